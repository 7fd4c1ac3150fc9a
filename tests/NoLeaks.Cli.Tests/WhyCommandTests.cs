using System.Text.Json;
using NoLeaks.Cli.Tests.Support;

namespace NoLeaks.Cli.Tests;

/// <summary><c>noleaks stacks --why</c>: what holds each operation, and whether it can ever resume.</summary>
public sealed class WhyCommandTests
{
    private const int Timeout = 120_000;
    private const string NeverResumes = "can never resume — no root of the process";
    private const string Garbage = "nothing: no root reaches it (garbage the GC has not collected yet)";

    [Fact(Timeout = Timeout)]
    public async Task Why_names_the_static_holding_an_operation_and_says_an_orphan_can_never_resume()
    {
        await using var target = await StacksTarget.StartAsync("why");

        var (code, output, error) = Noleaks.Run("stacks", target.Pid.ToString(), "--why", "--json");

        Assert.True(code == 0, error);
        using var json = JsonDocument.Parse(output);
        var stacks = json.RootElement.GetProperty("stacks").EnumerateArray().ToList();
        Assert.Equal(15, stacks.Count); // --why lists every operation on its own
        Assert.Equal(5000, json.RootElement.GetProperty("whyBudgetMs").GetInt32());

        // The readers' boxes sit in Program.Kept; what they await is in the channel of Program.Silent, also a static.
        var readers = stacks.Where(s => Innermost(s) == "Readers.ReadLoopAsync").ToList();
        Assert.Equal(10, readers.Count);
        Assert.All(readers, s => Assert.StartsWith("static Program.Kept → ", s.GetProperty("heldBy").GetString()));
        Assert.All(readers, s => Assert.StartsWith("still reachable from static Program.", s.GetProperty("verdict").GetString()));

        // Awaiting a TaskCompletionSource that only its own state machine references: no root reaches either.
        var orphan = Assert.Single(stacks, s => Innermost(s) == "Orphans.WaitForeverAsync");
        Assert.Equal(Garbage, orphan.GetProperty("heldBy").GetString());
        Assert.StartsWith(NeverResumes, orphan.GetProperty("verdict").GetString());
        Assert.Equal(StacksTarget.LineOf("orphan"), orphan.GetProperty("frames")[0].GetProperty("line").GetInt32());

        // Each waiter's TaskCompletionSource is held outside its chain (by Program.Kept, or a local of Main's): never "can
        // never resume". Nor the blocked delegate task, which is running.
        var waiters = stacks.Where(s => Innermost(s) == "Waiters.InnerAsync").ToList();
        Assert.Equal(3, waiters.Count);
        Assert.All(waiters, s => Assert.StartsWith("still reachable from ", s.GetProperty("verdict").GetString()));
        var blocked = Assert.Single(stacks, s => Innermost(s) == "Program.Main (lambda)");
        Assert.Equal(StacksCommandTests.Blocked, blocked.GetProperty("waitingOn").GetString());
        Assert.Equal("running — its delegate is executing on a thread", blocked.GetProperty("verdict").GetString());
    }

    [Fact(Timeout = Timeout)]
    public async Task A_budget_that_runs_out_is_said_per_operation_instead_of_a_verdict()
    {
        await using var target = await StacksTarget.StartAsync("why");

        var (code, output, error) = Noleaks.Run("stacks", target.Pid.ToString(), "--why-budget", "1ms");

        Assert.True(code == 0, error);
        const string overBudget = "unknown — the heap search ran out of its budget of 1 ms (--why-budget)";
        var lines = output.Split('\n').Select(l => l.Trim()).ToList();
        var verdicts = lines.Where(l => l.StartsWith("verdict  ", StringComparison.Ordinal)).Select(l => l["verdict  ".Length..]).ToList();
        Assert.Equal(15, verdicts.Count);

        // Reading the statics and every root takes more than 1 ms: no search starts, and nothing claims a verdict it did
        // not check — not the orphan's "can never resume", which needs a complete search.
        Assert.Contains(overBudget, verdicts);
        Assert.DoesNotContain(verdicts, v => v.StartsWith(NeverResumes, StringComparison.Ordinal));
        Assert.All(verdicts, v => Assert.True(v == overBudget || v.StartsWith("running — ", StringComparison.Ordinal) || v.StartsWith("still reachable from ", StringComparison.Ordinal), v));
        Assert.Contains(lines, l => l == $"held by  {overBudget}");
    }

    [Fact]
    public void Why_goes_with_text_or_json_and_a_budget_that_is_a_duration()
    {
        Assert.Equal(ExitCodes.Usage, Noleaks.Run("stacks", "1", "--why", "--folded").ExitCode);
        Assert.Equal(ExitCodes.Usage, Noleaks.Run("stacks", "1", "--why-budget", "soon").ExitCode);
        Assert.Equal(ExitCodes.Usage, Noleaks.Run("stacks", "1", "--why-budget", "0s").ExitCode);
        var options = Commands.Options.Parse(["stacks", "1", "--why"]);
        Assert.True(options.All);
        Assert.Equal(TimeSpan.FromSeconds(5), options.WhyBudget);
        Assert.Equal(TimeSpan.FromMilliseconds(250), Commands.Options.Parse(["stacks", "1", "--why-budget", "250ms"]).WhyBudget);
    }

    private static string? Innermost(JsonElement stack) => stack.GetProperty("frames")[0].GetProperty("method").GetString();
}
