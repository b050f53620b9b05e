// JITDylibs and link order: "app" links against "lib"'s definitions; a duplicate definition and an
// undefined symbol are typed errors that name the symbol and the inputs.
using OrcSharp;

var options = args is ["--oop", var executor] ? JitOptions.ChildProcess(executor) : JitOptions.InProcess;
await using var jit = await Jit.CreateAsync(options);
string Source(string name) => Path.Combine(AppContext.BaseDirectory, name);

var lib = jit.CreateJITDylib("lib");
jit.AddSource(Source("square.c"), lib);
var app = jit.CreateJITDylib("app");
app.AddToLinkOrder(lib);
jit.AddSource(Source("app.c"), app);
Console.WriteLine($"app's main returned {await jit.RunMainAsync([], app)}");

// A second strong definition of square in lib is an error naming both inputs (Replace is the way to swap).
jit.AddSource(Source("square_again.c"), lib);
try { jit.Link(lib); }
catch (DuplicateSymbolException e)
{
    Console.WriteLine($"duplicate '{e.SymbolName}': {Path.GetFileName(e.FirstInput)} and {Path.GetFileName(e.SecondInput)}");
}

var broken = jit.CreateJITDylib("broken");
jit.AddSource(Source("broken.c"), broken);
try { await jit.RunMainAsync([], broken); }
catch (UndefinedSymbolException e)
{
    Console.WriteLine($"undefined '{e.SymbolName}', referenced by {Path.GetFileName(e.ReferencedBy)}");
}
catch (OrcSharpException e) { Console.WriteLine($"unexpected: {e.Message}"); }
