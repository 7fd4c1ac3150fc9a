using BenchmarkDotNet.Running;
using NoLeaks.Benchmarks;

// dotnet run -c Release --project tests/NoLeaks.Benchmarks -- --filter '*'
// dotnet run -c Release --project tests/NoLeaks.Benchmarks -- --heap-snapshot-memory   (not a BenchmarkDotNet run)
// dotnet run -c Release --project tests/NoLeaks.Benchmarks -- --interleaved-overhead [pairs] [nunit|v2|v3]  (not BenchmarkDotNet)
if (args is ["--interleaved-overhead", ..])
{
    InterleavedOverhead.Run(
        args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 25, args.Length > 2 ? args[2] : null);
    return;
}

if (args is ["--heap-snapshot-memory"])
{
    HeapSnapshotMemory.Run();
    return;
}

BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
