using System.Buffers.Binary;
using OrcSharp.Checker;
using OrcSharp.Executor;
using OrcSharp.Executor.InProcess;
using OrcSharp.Executor.NoExec;
using OrcSharp.Executor.SimpleRemote;
using OrcSharp.Executor.TargetProcess;
using OrcSharp.JitLink;
using OrcSharp.Memory;
using OrcSharp.ObjectFile.Elf;
using OrcSharp.Orc;
using OrcSharp.Shared;

namespace OrcSharp.Cli.Jitlink;

/// <summary>
/// orcsharp jitlink: llvm-jitlink's command. Links the inputs into one JITDylib with LLVM JITLink's
/// behaviour (dead-stripping, stubs for far targets), resolves the entry point, prints what -show-addrs
/// and -show-graphs ask for, runs the -check files, then (unless -noexec) calls the entry point as main
/// with the -args and exits with its result. Exit status 1 for any error or failed check, as llvm-jitlink.
/// </summary>
public static class JitlinkCommand
{
    /// <summary>llvm-jitlink's default slab (1 GiB of address space).</summary>
    const ulong DefaultSlabSize = 1UL << 30;

    public static int Execute(JitlinkOptions o)
    {
        LauncherCheck.EnsureFresh(); // nothing is printed or run by a binary older than its sources
        foreach (var w in o.Warnings) Console.Error.WriteLine(w);
        var arch = TargetOf(o.Inputs);
        using var executor = CreateExecutor(o, arch);
        using var session = new ExecutionSession(executor) { LinkOptions = LinkOptions.LlvmJitLink };
        var recorder = new LinkSnapshot.Recorder();
        bool inspect = o.CheckFiles.Count > 0 || o.ShowAddrs || o.ShowGraphs is not null;
        if (inspect) session.Plugins.Add(recorder);

        var jd = session.CreateJITDylib("main");
        foreach (var (name, addr) in o.Absolutes) jd.DefineAbsolute(name, addr);
        jd.PhonyExternals = o.PhonyExternals;
        var loader = new InputLoader(jd, o.LibraryDirs);
        foreach (var lib in o.Preload) jd.AddSharedLibrary(Path.GetFullPath(lib));
        foreach (var spec in o.SectCreates)
        {
            var (name, obj) = SectCreate.Build(spec, arch);
            jd.AddObject(name, obj);
        }
        loader.AddFiles(o.Inputs);
        foreach (var lib in o.Libraries) loader.AddLibrary(lib);
        // llvm-jitlink resolves what the inputs leave undefined in its own process (the C and C++
        // runtimes among its libraries): here, the libraries a compiler driver adds. A link for another
        // architecture that does not run has no process.
        if (!o.NoProcessSymbols && !(o.NoExec && arch != HostArch)) loader.AddDefaultLibraries(jd.PendingObjectsLookLikeCxx());

        var unit = jd.Link();
        string entryName = o.Entry ?? "main";
        var entry = jd.Lookup(entryName);
        if (o.ShowGraphs is { } pattern)
            foreach (var link in recorder.Snapshots)
                if (pattern.Length == 0 || System.Text.RegularExpressions.Regex.IsMatch(link.Graph.Name, pattern))
                    LinkPrinter.WriteGraph(Console.Out, link, session.Backend);
        if (o.ShowAddrs) LinkPrinter.WriteAddresses(Console.Out, recorder.Snapshots, o.Absolutes);
        if (o.ShowTimes) WriteTimes(unit.Stats);
        Console.Out.Flush();
        if (entry is null) throw new LinkError($"entry point '{entryName}' is not defined");

        if (o.CheckFiles.Count > 0 && !RunChecks(o, recorder.Snapshots, session.Backend.Arch)) return 1;
        if (o.NoExec) return 0;
        Console.Out.Flush();
        Console.Error.Flush();
        // As llvm-jitlink's runAsMain: argv is exactly the -args (argv[0] is the first of them).
        return executor.RunProgram(new ProgramStart(unit.Initializers, unit.Finalizers, jd.DsoHandle, entry.Value, o.ProgramArgs));
    }

    static TargetArch HostArch => HostArchitecture.IsArm64 ? TargetArch.AArch64 : TargetArch.X86_64;

    /// <summary>The architecture of the first relocatable object among the inputs (as llvm-jitlink takes
    /// its triple from the first object); this machine's when there is none.</summary>
    static TargetArch TargetOf(IEnumerable<string> inputs)
    {
        Span<byte> header = stackalloc byte[20];
        foreach (var path in inputs)
        {
            try
            {
                using var f = File.OpenRead(path);
                if (f.ReadAtLeast(header, header.Length, throwOnEndOfStream: false) < header.Length || !header.StartsWith("\u007fELF"u8)) continue;
            }
            catch (IOException) { continue; }
            catch (UnauthorizedAccessException) { continue; }
            if (BinaryPrimitives.ReadUInt16LittleEndian(header[16..]) != 1) continue; // ET_REL
            ushort machine = BinaryPrimitives.ReadUInt16LittleEndian(header[18..]);
            if (machine == ElfAbi.EmAArch64) return TargetArch.AArch64;
            if (machine == ElfAbi.EmX86_64) return TargetArch.X86_64;
        }
        return HostArch;
    }

    static IExecutorControl CreateExecutor(JitlinkOptions o, TargetArch arch)
    {
        string triple = arch == TargetArch.AArch64 ? "aarch64-unknown-linux-gnu" : "x86_64-unknown-linux-gnu";
        if (o.NoExec)
        {
            uint page = o.SlabPageSize != 0 ? o.SlabPageSize : (uint)Environment.SystemPageSize;
            ulong size = o.SlabSize ?? DefaultSlabSize;
            // Without -slab-address the slab is address space reserved (never mapped) in this process,
            // near its libraries, so addresses look as they would in a run.
            var slabBase = o.SlabAddress ?? new ExecutorMemory().Reserve(size, Placement.NearLibraries);
            var memory = new NoExecMemoryManager(slabBase, size, page);
            return new NoExecExecutorControl(triple, memory, arch == HostArch ? new InProcessExecutorControl() : null);
        }
        if (o.OopConnect is { } hostPort) return RunCommand.ConnectExecutor(hostPort, tokenFile: null);
        if (arch != HostArch)
        {
            if (o.OopExecutor is { Length: > 0 }) throw new LinkError("jitlink: -oop-executor=PATH runs code of this machine's architecture; AArch64 code runs in OrcSharp's arm64 executor (leave the path out)");
            return CrossExecutor.Spawn(arch == TargetArch.AArch64 ? "aarch64" : "x86_64", new Dictionary<string, string>(), ["executor", "--stdio", "--program-stdout", "3", "--program-stdin", "4"]);
        }
        if (o.OopExecutor is { } path)
        {
            string exe = path.Length > 0 ? path : Environment.ProcessPath ?? throw new LinkError("cannot find the orcsharp executable to start an executor");
            // OrcSharp's executor protocol for now: LLVM's llvm-jitlink-executor speaks LLVM's (issue 14).
            return SimpleRemoteEPC.Spawn(exe, ["executor", "--stdio", "--program-stdout", "3", "--program-stdin", "4"], new Dictionary<string, string>());
        }
        return new InProcessExecutorControl();
    }

    static bool RunChecks(JitlinkOptions o, IReadOnlyList<LinkSnapshot> links, TargetArch arch)
    {
        var view = new SnapshotView(links, o.Absolutes, arch);
        bool ok = true;
        foreach (var file in o.CheckFiles)
        {
            string text;
            try { text = File.ReadAllText(file); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new LinkError($"cannot read check file {file}: {e.Message}"); }
            var (count, failures) = CheckFile.Run(file, text, o.CheckName, view);
            foreach (var f in failures) Console.Error.WriteLine($"orcsharp: error: {f}");
            if (count == 0) Console.Error.WriteLine($"orcsharp: error: {file}: no '# {o.CheckName}:' lines");
            if (count == 0 || failures.Count > 0)
            {
                Console.Error.WriteLine($"orcsharp: error: {(count == 0 ? 0 : failures.Count)} of {count} checks in {file} failed");
                ok = false;
            }
        }
        return ok;
    }

    static void WriteTimes(LinkStats s)
    {
        var inv = System.Globalization.CultureInfo.InvariantCulture;
        Console.Error.WriteLine(string.Create(inv, $"orcsharp jitlink times (ms): parse {s.ParseMs:0.###}, archives {s.ArchivesMs:0.###}, edges {s.EdgesMs:0.###}, passes {s.PassesMs:0.###}, resolve {s.ResolveMs:0.###}, layout+alloc {s.LayoutAllocMs:0.###}, fixup {s.FixupMs:0.###}, finalize {s.FinalizeMs:0.###}"));
    }
}
