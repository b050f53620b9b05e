using System.Runtime.InteropServices;

namespace OrcSharp.Shared;

/// <summary>argv and envp for exec and posix_spawn: null-terminated arrays of UTF-8 C strings.</summary>
public static class NativeStrings
{
    /// <summary>The strings as C strings plus a terminating null; <see cref="Free"/> releases them.</summary>
    public static nint[] ToArray(IReadOnlyList<string> items)
    {
        var p = new nint[items.Count + 1];
        for (int i = 0; i < items.Count; i++) p[i] = Marshal.StringToCoTaskMemUTF8(items[i]);
        return p;
    }

    public static void Free(nint[] strings)
    {
        foreach (var p in strings) Marshal.FreeCoTaskMem(p);
    }

    /// <summary>This process's environment as "NAME=value" entries, with <paramref name="overrides"/>
    /// replacing or adding variables.</summary>
    public static List<string> Environment(IReadOnlyDictionary<string, string>? overrides = null)
    {
        var env = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (System.Collections.DictionaryEntry kv in System.Environment.GetEnvironmentVariables()) env[(string)kv.Key] = (string?)kv.Value ?? "";
        if (overrides is not null) foreach (var (k, v) in overrides) env[k] = v;
        return env.Select(kv => $"{kv.Key}={kv.Value}").ToList();
    }
}
