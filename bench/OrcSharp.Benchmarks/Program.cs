using BenchmarkDotNet.Running;

// In-process link figures (docs/performance.md). The workloads are built by bench/perf.sh, which
// passes their folder in ORCSHARP_BENCH_WORK; run that script, or set the variable and run
//   dotnet run -c Release --project bench/OrcSharp.Benchmarks -- --filter '*'
BenchmarkSwitcher.FromAssembly(typeof(OrcSharp.Benchmarks.LinkBenchmarks).Assembly).Run(args);
