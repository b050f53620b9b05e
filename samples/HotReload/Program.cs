// Hot reload: a loop keeps calling "compute" at one stable address while the plugin behind it is
// replaced (Replace links the new version, lets us point the stable code at it, then removes the old).
using OrcSharp;

var options = args is ["--oop", var executor] ? JitOptions.ChildProcess(executor) : JitOptions.InProcess;
await using var jit = await Jit.CreateAsync(options);
string Source(string name) => Path.Combine(AppContext.BaseDirectory, name);

var stable = jit.CreateJITDylib("stable");
jit.AddSource(Source("stable.c"), stable);
var compute = jit.Lookup("compute", stable);
var setImpl = jit.Lookup("set_impl", stable);

jit.AddSource(Source("plugin_v1.c"));
var plugin = jit.Link()!;
await jit.CallAsync(setImpl, (long)jit.Lookup("plugin_compute").Address.Value);

for (int i = 0; i < 6; i++)
{
    if (i == 3)
    {
        plugin = jit.Replace(plugin, [Source("plugin_v2.c")],
            _ => jit.CallAsync(setImpl, (long)jit.Lookup("plugin_compute").Address.Value).GetAwaiter().GetResult());
        Console.WriteLine("-- replaced plugin_v1 with plugin_v2");
    }
    Console.WriteLine($"compute({i}) = {await jit.CallAsync(compute, i)}");
}
Console.WriteLine($"compute stayed at one address: {jit.Lookup("compute", stable).Address == compute.Address}");
