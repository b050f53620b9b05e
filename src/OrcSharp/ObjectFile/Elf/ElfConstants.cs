namespace OrcSharp.ObjectFile.Elf;

/// <summary>ELF constants used by the reader and the graph builder (System V gABI names).</summary>
public static class ElfAbi
{
    public const byte ClassElf64 = 2, DataLsb = 1;
    public const ushort EtRel = 1, EtExec = 2, EtDyn = 3;
    public const ushort EmX86_64 = 62, EmAArch64 = 183;

    /// <summary>Program header types and flags (loaded images, in-memory shared objects).</summary>
    public const uint PtLoad = 1, PtDynamic = 2, PtTls = 7, PtGnuEhFrame = 0x6474e550, PtGnuStack = 0x6474e551,
        PtGnuRelro = 0x6474e552;
    public const uint PfX = 1, PfW = 2, PfR = 4;

    public const uint ShtNull = 0, ShtProgbits = 1, ShtSymtab = 2, ShtStrtab = 3, ShtRela = 4, ShtHash = 5,
        ShtDynamic = 6, ShtNote = 7, ShtNobits = 8, ShtRel = 9, ShtDynsym = 11, ShtInitArray = 14,
        ShtFiniArray = 15, ShtPreinitArray = 16, ShtGroup = 17, ShtSymtabShndx = 18, ShtX86_64Unwind = 0x70000001;

    public const ulong ShfWrite = 0x1, ShfAlloc = 0x2, ShfExecInstr = 0x4, ShfMerge = 0x10, ShfStrings = 0x20,
        ShfInfoLink = 0x40, ShfGroup = 0x200, ShfTls = 0x400, ShfExclude = 0x80000000;

    public const ushort ShnUndef = 0, ShnLoReserve = 0xff00, ShnAbs = 0xfff1, ShnCommon = 0xfff2, ShnXIndex = 0xffff;

    public const byte StbLocal = 0, StbGlobal = 1, StbWeak = 2, StbGnuUnique = 10;
    public const byte SttNoType = 0, SttObject = 1, SttFunc = 2, SttSection = 3, SttFile = 4, SttCommon = 5,
        SttTls = 6, SttGnuIfunc = 10;
    public const byte StvDefault = 0, StvInternal = 1, StvHidden = 2, StvProtected = 3;

    public const uint GrpComdat = 1;
}

/// <summary>Elf64_Ehdr, read directly from the file bytes (little-endian).</summary>
[System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Sequential, Pack = 1)]
public struct Elf64Header
{
    public unsafe fixed byte Ident[16];
    public ushort Type, Machine;
    public uint Version;
    public ulong Entry, PhOff, ShOff;
    public uint Flags;
    public ushort EhSize, PhEntSize, PhNum, ShEntSize, ShNum, ShStrNdx;
}

/// <summary>Elf64_Shdr.</summary>
[System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Sequential, Pack = 1)]
public struct Elf64SectionHeader
{
    public uint Name, Type;
    public ulong Flags, Addr, Offset, Size;
    public uint Link, Info;
    public ulong AddrAlign, EntSize;
}

/// <summary>Elf64_Sym.</summary>
[System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Sequential, Pack = 1)]
public struct Elf64Symbol
{
    public uint Name;
    public byte Info, Other;
    public ushort Shndx;
    public ulong Value, Size;
    public readonly byte Binding => (byte)(Info >> 4);
    public readonly byte Type => (byte)(Info & 0xf);
    public readonly byte Visibility => (byte)(Other & 3);
}

/// <summary>Elf64_Rela.</summary>
[System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Sequential, Pack = 1)]
public struct Elf64Rela
{
    public ulong Offset, Info;
    public long Addend;
    public readonly uint SymbolIndex => (uint)(Info >> 32);
    public readonly uint Type => (uint)Info;
}
