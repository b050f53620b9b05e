using OrcSharp.Executor;
using OrcSharp.JitLink;
using OrcSharp.JitLink.X86_64;
using OrcSharp.Shared;

namespace OrcSharp.Orc;

/// <summary>The root of a JIT session: the executor it targets, the backend for that target, and its JITDylibs.</summary>
public sealed class ExecutionSession : IDisposable
{
    readonly List<JITDylib> _dylibs = new();

    public ExecutionSession(IExecutorControl executor)
    {
        Executor = executor;
        Backend = executor.TargetTriple.StartsWith("x86_64", StringComparison.Ordinal)
            ? X86_64Backend.Instance
            : throw new LinkError($"no JIT-link backend for target {executor.TargetTriple}");
    }

    public IExecutorControl Executor { get; }
    public ILinkBackend Backend { get; }
    /// <summary>Extra passes added to every link (platform support, instrumentation).</summary>
    public List<ILinkPlugin> Plugins { get; } = new();
    public IReadOnlyList<JITDylib> JITDylibs => _dylibs;

    public JITDylib CreateJITDylib(string name)
    {
        var jd = new JITDylib(this, name);
        _dylibs.Add(jd);
        return jd;
    }

    public void Dispose() => Executor.Dispose();
}
