using System.Globalization;
using System.Text.Json;

namespace NoLeaks.Cli;

/// <summary><c>noleaks stacks</c>, <c>noleaks diff</c> and <c>noleaks ps</c>: parsing, running, printing.</summary>
internal static class Commands
{
    public const string UsageText = """
        Usage:
          noleaks stacks <pid | dump file> [--all] [--why [--why-budget <5s>]] [--json | --folded] [--filter <pattern>]
              The pending async operations of a running .NET process (suspended while its heap is read) or of a dump,
              grouped by logical async stack, most frequent first: count, await lines, what each waits on.
              --all       every operation on its own, with its chain
              --why       with --all (implied): what holds each operation and whether it can ever resume, searched
                          within --why-budget in all (default 5s; 500ms, 2m …), the process suspended meanwhile
              --json      JSON (version 1) on stdout
              --folded    folded stacks, one line per stack with its count (flame-graph tools)
              --filter    only the stacks with a method matching the pattern (as NoLeaks' IgnoreAsyncMethods: a full
                          name Namespace.Type.Method or a shown name Type.Method, * for any characters)
          noleaks diff <dump a> <dump b> [--json] [--filter <pattern>]
          noleaks diff <pid> --interval <10s> [--json] [--filter <pattern>]
              The stacks whose counts grew from the first reading to the second.
          noleaks ps
              The .NET processes this user may read: pid, name, runtime version.
          noleaks merge <folder or .json file>... [--output <file.json|file.md>]
              Merges NoLeaks test reports (`noleaks merge` alone prints its usage).
        Exit codes: 0 done (diff: nothing grew); 1 diff: a stack grew; 2 usage; 3 no such process, or not a .NET
        process; 4 permission refused; 5 a dump that is truncated or not a readable dump; 6 a .NET runtime that cannot
        be read; 7 any other failure.
        """;

    public static int Help(TextWriter output)
    {
        output.WriteLine(UsageText);
        return ExitCodes.Success;
    }

    public static int Usage(TextWriter error)
    {
        error.WriteLine(UsageText);
        return ExitCodes.Usage;
    }

    public static int Run(string[] args, TextWriter output, TextWriter error)
    {
        try
        {
            var options = Options.Parse(args);
            switch (args[0])
            {
                case "ps":
                    WriteProcesses(ProcessNames.DotNetProcesses(), output);
                    return ExitCodes.Success;
                case "stacks":
                {
                    var reading = Filtered(AsyncStacks.Read(options.Targets[0], options.All, error, options.WhyBudget), options.Filter);
                    foreach (var warning in reading.Warnings)
                    {
                        error.WriteLine($"noleaks: warning: {warning}");
                    }

                    if (options.Json)
                    {
                        StacksOutput.WriteJson(reading, output);
                    }
                    else if (options.Folded)
                    {
                        StacksOutput.WriteFolded(reading, output);
                    }
                    else
                    {
                        StacksOutput.WriteText(reading, options.All, output);
                    }

                    return ExitCodes.Success;
                }

                default:
                {
                    var before = Filtered(AsyncStacks.Read(options.Targets[0], each: false, error), options.Filter);
                    if (options.Interval is { } interval)
                    {
                        error.WriteLine($"noleaks: read {before.Target}; reading it again in {interval.TotalSeconds:0.#} s");
                        Thread.Sleep(interval);
                    }

                    var after = Filtered(AsyncStacks.Read(options.Targets[^1], each: false, error), options.Filter);
                    var growth = StackGrowth.Between(before, after);
                    if (options.Json)
                    {
                        StacksOutput.WriteJson(before, after, growth, output);
                    }
                    else
                    {
                        StacksOutput.WriteText(before, after, growth, output);
                    }

                    return growth.Count > 0 ? ExitCodes.Grew : ExitCodes.Success;
                }
            }
        }
        catch (CommandException e)
        {
            error.WriteLine($"noleaks: {e.Message}");
            Trace(e, error);
            return e.ExitCode;
        }
        catch (Exception e)
        {
            // Never a stack trace (unless NOLEAKS_TRACE=1 asks for it): the type and message say what went wrong.
            error.WriteLine($"noleaks: {e.GetType().Name}: {e.Message}");
            Trace(e, error);
            return ExitCodes.Failure;
        }
    }

    /// <summary>For reporting a bug in noleaks: NOLEAKS_TRACE=1 prints the exception with its stack trace.</summary>
    private static void Trace(Exception e, TextWriter error)
    {
        if (Environment.GetEnvironmentVariable("NOLEAKS_TRACE") == "1")
        {
            error.WriteLine(e);
        }
    }

    private static StacksReading Filtered(StacksReading reading, LeakFilter? filter) =>
        filter is null ? reading : reading with { Stacks = [.. reading.Stacks.Where(filter.Matches)] };

    private static void WriteProcesses(List<DotNetProcess> processes, TextWriter output)
    {
        output.WriteLine($"{"PID",8}  {"RUNTIME",-10}  NAME");
        foreach (var process in processes)
        {
            output.WriteLine($"{process.Id,8}  {process.RuntimeVersion,-10}  {process.Name}");
        }
    }

    /// <summary>The retention search's budget when <c>--why</c> comes without <c>--why-budget</c>.</summary>
    internal static readonly TimeSpan DefaultWhyBudget = TimeSpan.FromSeconds(5);

    /// <summary>The parsed command line of stacks, diff and ps; <c>WhyBudget</c> is the retention search's budget (<c>--why</c>), null for no search.</summary>
    internal sealed record Options(List<string> Targets, bool All, bool Json, bool Folded, LeakFilter? Filter, TimeSpan? Interval, TimeSpan? WhyBudget = null)
    {
        public static Options Parse(string[] args)
        {
            var targets = new List<string>();
            bool all = false, json = false, folded = false;
            LeakFilter? filter = null;
            TimeSpan? interval = null;
            TimeSpan? whyBudget = null;
            for (var i = 1; i < args.Length; i++)
            {
                switch (args[i])
                {
                    case "--all" when args[0] == "stacks":
                        all = true;
                        break;
                    case "--json" when args[0] != "ps":
                        json = true;
                        break;
                    case "--why" when args[0] == "stacks":
                        whyBudget ??= DefaultWhyBudget;
                        break;
                    case AsyncStacks.WhyBudgetOption when args[0] == "stacks" && i + 1 < args.Length:
                        whyBudget = ParseInterval(args[++i], AsyncStacks.WhyBudgetOption);
                        break;
                    case "--folded" when args[0] == "stacks":
                        folded = true;
                        break;
                    case "--filter" when args[0] != "ps" && i + 1 < args.Length && !string.IsNullOrWhiteSpace(args[i + 1]):
                        filter = Ignore.AsyncMethod(args[++i]);
                        break;
                    case "--interval" when args[0] == "diff" && i + 1 < args.Length:
                        interval = ParseInterval(args[++i], "--interval");
                        break;
                    case var other when !other.StartsWith('-') && args[0] != "ps":
                        targets.Add(other);
                        break;
                    default:
                        throw new CommandException(ExitCodes.Usage, $"unexpected argument {args[i]} (noleaks --help)");
                }
            }

            var expected = args[0] switch
            {
                "ps" => 0,
                "diff" when interval is null => 2,
                _ => 1,
            };
            if (targets.Count != expected || (json && folded) || (folded && whyBudget is not null))
            {
                throw new CommandException(ExitCodes.Usage, args[0] switch
                {
                    "diff" => "diff takes two dumps, or one process id and --interval <10s> (noleaks --help)",
                    "stacks" when json && folded => "--json and --folded do not go together",
                    "stacks" when folded && whyBudget is not null => "--why lists each operation with its retention: use text or --json, not --folded",
                    "stacks" => "stacks takes one process id or dump file (noleaks --help)",
                    _ => "ps takes no argument",
                });
            }

            if (interval is not null && !int.TryParse(targets[0], out _))
            {
                throw new CommandException(ExitCodes.Usage, "--interval reads a live process twice: give a process id");
            }

            if (whyBudget is { } budget && budget <= TimeSpan.Zero)
            {
                throw new CommandException(ExitCodes.Usage, $"{AsyncStacks.WhyBudgetOption} must be more than 0 (500ms, 5s, 2m)");
            }

            // --why is a per-operation answer: it lists every operation on its own.
            return new Options(targets, all || whyBudget is not null, json, folded, filter, interval, whyBudget);
        }

        /// <summary>10s, 500ms, 2m, or a number of seconds.</summary>
        internal static TimeSpan ParseInterval(string text, string option = "--interval")
        {
            var (number, unit) = text.EndsWith("ms", StringComparison.Ordinal) ? (text[..^2], 0.001)
                : text.EndsWith('s') ? (text[..^1], 1.0)
                : text.EndsWith('m') ? (text[..^1], 60.0)
                : (text, 1.0);
            if (!double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || value < 0 || value * unit > 86_400)
            {
                throw new CommandException(ExitCodes.Usage, $"{option} {text} is not a duration (10s, 500ms, 2m)");
            }

            return TimeSpan.FromSeconds(value * unit);
        }
    }
}

/// <summary>A stack whose count grew between two readings.</summary>
internal sealed record StackGrowth(TaskLeak Stack, int Before, int After)
{
    /// <summary>The stacks of <paramref name="after"/> with more operations than in <paramref name="before"/>, most growth first.</summary>
    public static List<StackGrowth> Between(StacksReading before, StacksReading after)
    {
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var stack in before.Stacks)
        {
            counts[stack.StackKey] = counts.GetValueOrDefault(stack.StackKey) + stack.Count;
        }

        return [.. after.Stacks
            .Select(s => new StackGrowth(s, counts.GetValueOrDefault(s.StackKey), s.Count))
            .Where(g => g.After > g.Before)
            .OrderByDescending(g => g.After - g.Before)
            .ThenBy(g => g.Stack.StackKey, StringComparer.Ordinal)];
    }
}
