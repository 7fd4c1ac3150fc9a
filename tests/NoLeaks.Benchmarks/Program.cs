using BenchmarkDotNet.Running;

// dotnet run -c Release --project tests/NoLeaks.Benchmarks -- --filter '*'
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
