using BenchmarkDotNet.Running;
using NoLeaks.Benchmarks;

// dotnet run -c Release --project tests/NoLeaks.Benchmarks -- --filter '*'
// dotnet run -c Release --project tests/NoLeaks.Benchmarks -- --heap-snapshot-memory   (not a BenchmarkDotNet run)
if (args is ["--heap-snapshot-memory"])
{
    HeapSnapshotMemory.Run();
    return;
}

BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
