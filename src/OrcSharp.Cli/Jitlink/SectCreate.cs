using System.Buffers.Binary;
using System.Text;
using OrcSharp.JitLink;
using OrcSharp.ObjectFile.Elf;
using OrcSharp.Shared;

namespace OrcSharp.Cli.Jitlink;

/// <summary>
/// -sectcreate SECTION,FILE[@SYM=OFFSET,...]: a read-only section holding FILE's bytes (16-byte aligned),
/// with global symbols at the given offsets. Made as a small relocatable ELF object, so it is linked like
/// any other input.
/// </summary>
public static class SectCreate
{
    public static (string Name, byte[] Object) Build(string spec, TargetArch arch)
    {
        int at = spec.IndexOf('@');
        string sectAndFile = at < 0 ? spec : spec[..at];
        int comma = sectAndFile.LastIndexOf(',');
        if (comma <= 0 || comma == sectAndFile.Length - 1)
            throw new LinkError($"jitlink: -sectcreate={spec}: expected SECTION,FILE[@SYM=OFFSET,...]");
        string section = sectAndFile[..comma], file = sectAndFile[(comma + 1)..];
        byte[] content;
        try { content = File.ReadAllBytes(file); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new LinkError($"{file}: cannot read: {e.Message}"); }
        var symbols = new List<(string Name, ulong Offset)>();
        if (at >= 0)
            foreach (var pair in spec[(at + 1)..].Split(',', StringSplitOptions.RemoveEmptyEntries))
            {
                int eq = pair.IndexOf('=');
                if (eq <= 0 || !ulong.TryParse(pair[(eq + 1)..], out ulong off) || off > (ulong)content.Length)
                    throw new LinkError($"jitlink: -sectcreate={spec}: '{pair}' is not SYM=OFFSET within the file");
                symbols.Add((pair[..eq], off));
            }
        return ($"<sectcreate {section}>", Object(section, content, symbols, arch == TargetArch.AArch64 ? ElfAbi.EmAArch64 : ElfAbi.EmX86_64));
    }

    /// <summary>ELF64 relocatable: null, the section, .symtab, .strtab, .shstrtab.</summary>
    static byte[] Object(string section, byte[] content, List<(string Name, ulong Offset)> symbols, ushort machine)
    {
        var shstr = new MemoryStream();
        int Str(MemoryStream s, string v) { int o = (int)s.Length; var b = Encoding.UTF8.GetBytes(v + "\0"); s.Write(b); return o; }
        shstr.WriteByte(0);
        int nSect = Str(shstr, section), nSym = Str(shstr, ".symtab"), nStr = Str(shstr, ".strtab"), nShstr = Str(shstr, ".shstrtab");
        var strtab = new MemoryStream();
        strtab.WriteByte(0);
        var symtab = new byte[24 * (symbols.Count + 1)];
        for (int i = 0; i < symbols.Count; i++)
        {
            var s = symtab.AsSpan(24 * (i + 1));
            BinaryPrimitives.WriteUInt32LittleEndian(s, (uint)Str(strtab, symbols[i].Name));
            s[4] = (ElfAbi.StbGlobal << 4) | ElfAbi.SttObject;
            BinaryPrimitives.WriteUInt16LittleEndian(s[6..], 1);
            BinaryPrimitives.WriteUInt64LittleEndian(s[8..], symbols[i].Offset);
        }
        var parts = new[] { content, symtab, strtab.ToArray(), shstr.ToArray() };
        var offsets = new long[parts.Length];
        long pos = 64;
        for (int i = 0; i < parts.Length; i++) { pos = (pos + 15) & ~15L; offsets[i] = pos; pos += parts[i].Length; }
        long shoff = (pos + 7) & ~7L;
        var obj = new byte[shoff + 64 * 5];
        var h = obj.AsSpan();
        "\u007fELF"u8.CopyTo(h);
        h[4] = 2; h[5] = 1; h[6] = 1;
        BinaryPrimitives.WriteUInt16LittleEndian(h[16..], 1);
        BinaryPrimitives.WriteUInt16LittleEndian(h[18..], machine);
        BinaryPrimitives.WriteUInt32LittleEndian(h[20..], 1);
        BinaryPrimitives.WriteUInt64LittleEndian(h[40..], (ulong)shoff);
        BinaryPrimitives.WriteUInt16LittleEndian(h[52..], 64);
        BinaryPrimitives.WriteUInt16LittleEndian(h[58..], 64);
        BinaryPrimitives.WriteUInt16LittleEndian(h[60..], 5);
        BinaryPrimitives.WriteUInt16LittleEndian(h[62..], 4);
        for (int i = 0; i < parts.Length; i++) parts[i].CopyTo(obj, offsets[i]);
        void Header(int index, int name, uint type, ulong flags, int part, uint link, uint info, ulong align, ulong entsize)
        {
            var s = obj.AsSpan((int)shoff + 64 * index);
            BinaryPrimitives.WriteUInt32LittleEndian(s, (uint)name);
            BinaryPrimitives.WriteUInt32LittleEndian(s[4..], type);
            BinaryPrimitives.WriteUInt64LittleEndian(s[8..], flags);
            BinaryPrimitives.WriteUInt64LittleEndian(s[24..], (ulong)offsets[part]);
            BinaryPrimitives.WriteUInt64LittleEndian(s[32..], (ulong)parts[part].Length);
            BinaryPrimitives.WriteUInt32LittleEndian(s[40..], link);
            BinaryPrimitives.WriteUInt32LittleEndian(s[44..], info);
            BinaryPrimitives.WriteUInt64LittleEndian(s[48..], align);
            BinaryPrimitives.WriteUInt64LittleEndian(s[56..], entsize);
        }
        const uint ShtProgbits = 1, ShtSymtab = 2, ShtStrtab = 3;
        Header(1, nSect, ShtProgbits, ElfAbi.ShfAlloc, 0, 0, 0, 16, 0);
        Header(2, nSym, ShtSymtab, 0, 1, 3, 1, 8, 24);
        Header(3, nStr, ShtStrtab, 0, 2, 0, 0, 1, 0);
        Header(4, nShstr, ShtStrtab, 0, 3, 0, 0, 1, 0);
        return obj;
    }
}
