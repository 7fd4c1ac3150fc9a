using System.Globalization;

namespace NoLeaks.Benchmarks;

/// <summary>
/// The adapter overhead measured so that a drifting machine cancels out: for each framework, the suite without and
/// with <c>[assembly: NoTaskLeaks]</c> run alternately, N pairs; the figure is the median of the pairs' relative
/// differences (each pair ran back to back). BenchmarkDotNet runs every iteration of one case before the next case,
/// so on a shared machine whose speed drifts by ±10 % over minutes its medians cannot resolve a 3 % budget.
/// dotnet run -c Release --project tests/NoLeaks.Benchmarks -- --interleaved-overhead [pairs, default 25] [nunit|v2|v3]
/// </summary>
internal static class InterleavedOverhead
{
    public static void Run(int pairs, string? only = null)
    {
        var suites = new List<(string Name, string Without, string With)>();
        if (only is null or "nunit")
        {
            suites.Add(("NUnit 4", OverheadFixtures.NUnit("NUnitOverheadUnchecked"), OverheadFixtures.NUnit("NUnitOverheadChecked")));
        }

        if (only is null or "v2")
        {
            suites.Add(("xunit v2", OverheadFixtures.BuildXunit("XunitV2Overhead", "Registered"), OverheadFixtures.BuildXunit("XunitV2Overhead", "Checked")));
        }

        if (only is null or "v3")
        {
            suites.Add(("xunit v3", OverheadFixtures.BuildXunit("XunitV3Overhead", "Registered"), OverheadFixtures.BuildXunit("XunitV3Overhead", "Checked")));
        }

        Console.WriteLine($"{pairs} interleaved pairs per suite; 2,000 clean tests; without the attribute → [assembly: NoTaskLeaks]");
        Console.WriteLine("| suite | wall without | wall with | wall added (median of pairs) | CPU without | CPU with | CPU added |");
        Console.WriteLine("| --- | --- | --- | --- | --- | --- | --- |");
        foreach (var (name, without, with) in suites)
        {
            // One unmeasured run of each first: disk cache, JIT of the runner.
            OverheadFixtures.RunSuite(without);
            OverheadFixtures.RunSuite(with);
            var runs = new List<((TimeSpan Wall, TimeSpan Cpu) Without, (TimeSpan Wall, TimeSpan Cpu) With)>();
            for (var i = 0; i < pairs; i++)
            {
                // Alternate which goes first, so that neither always follows the other.
                if (i % 2 == 0)
                {
                    var a = OverheadFixtures.RunSuite(without);
                    runs.Add((a, OverheadFixtures.RunSuite(with)));
                }
                else
                {
                    var b = OverheadFixtures.RunSuite(with);
                    runs.Add((OverheadFixtures.RunSuite(without), b));
                }
            }

            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {name} | {Median(runs.Select(r => r.Without.Wall.TotalSeconds)):F3} s | {Median(runs.Select(r => r.With.Wall.TotalSeconds)):F3} s | "
                + $"{Median(runs.Select(r => (r.With.Wall / r.Without.Wall) - 1)) * 100:+0.0;-0.0} % | "
                + $"{Median(runs.Select(r => r.Without.Cpu.TotalSeconds)):F3} s | {Median(runs.Select(r => r.With.Cpu.TotalSeconds)):F3} s | "
                + $"{Median(runs.Select(r => (r.With.Cpu / r.Without.Cpu) - 1)) * 100:+0.0;-0.0} % |"));
        }
    }

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
    }
}
