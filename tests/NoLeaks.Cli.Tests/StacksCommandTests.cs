using System.Text.Json;
using NoLeaks.Cli.Tests.Support;

namespace NoLeaks.Cli.Tests;

public sealed class StacksCommandTests
{
    private const int Timeout = 120_000;

    /// <summary>What the blocked delegate task waits on: the call its thread is blocked in, at its line (the test reports' words).</summary>
    internal static readonly string Blocked = $"ManualResetEventSlim.Wait() at Program.cs:{StacksTarget.LineOf("blocked")} (its thread is blocked)";

    /// <summary>The target's pending work, one line per stack: count | what it waits on | method:line, innermost first.</summary>
    internal static readonly string[] Expected =
    [
        $"10 | ChannelReader<int>.ReadAsync() on a channel nobody writes to or completes | Readers.ReadLoopAsync:{StacksTarget.LineOf("reader")}",
        $"3 | TaskCompletionSource<int>.Task | Waiters.InnerAsync:{StacksTarget.LineOf("inner")} <- Waiters.MiddleAsync:{StacksTarget.LineOf("middle")} <- Waiters.OuterAsync:{StacksTarget.LineOf("outer")}",
        $"1 | {Blocked} | Program.Main (lambda):{StacksTarget.LineOf("blocked")}",
    ];

    [Fact(Timeout = Timeout)]
    public async Task Stacks_of_a_live_process_are_grouped_most_frequent_first_with_await_lines_and_what_they_wait_on()
    {
        await using var target = await StacksTarget.StartAsync();

        var (code, output, error) = Noleaks.Run("stacks", target.Pid.ToString(), "--json");

        Assert.True(code == 0, error);
        using var json = JsonDocument.Parse(output);
        Assert.Equal(Expected, Summaries(json.RootElement));
        Assert.All(Frames(json.RootElement), frame => Assert.Equal("Program.cs", Path.GetFileName(frame.GetProperty("file").GetString())));
        Assert.True(json.RootElement.GetProperty("suspendedMs").GetDouble() > 0);
        Assert.Equal(1, json.RootElement.GetProperty("version").GetInt32());
    }

    [Fact(Timeout = Timeout)]
    public async Task Stacks_of_a_dump_are_those_of_the_process_and_say_nothing_was_suspended()
    {
        using var folder = new TempFolder();
        string dump;
        await using (var target = await StacksTarget.StartAsync())
        {
            dump = target.WriteDump(folder, "target.dmp");
        }

        var (code, output, error) = Noleaks.Run("stacks", dump, "--json");

        Assert.True(code == 0, error);
        using var json = JsonDocument.Parse(output);
        Assert.Equal(Expected, Summaries(json.RootElement));
        Assert.Equal(JsonValueKind.Null, json.RootElement.GetProperty("suspendedMs").ValueKind);
    }

    [Fact(Timeout = Timeout)]
    public async Task Text_output_names_the_process_the_suspension_and_each_stack_with_its_chain()
    {
        await using var target = await StacksTarget.StartAsync();

        var (code, output, error) = Noleaks.Run("stacks", target.Pid.ToString());

        Assert.True(code == 0, error);
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.TrimEnd()).ToList();
        Assert.Matches(@$"^process {target.Pid} \(AsyncStacksTarget\), \.NET [0-9.]+: 14 pending async operations in 3 stacks \(.* objects read in [0-9.]+ s, the process suspended for [0-9.]+ s\)$", lines[0]);
        Assert.Equal("10 × waiting on ChannelReader<int>.ReadAsync() on a channel nobody writes to or completes", lines[1]);
        Assert.Matches(@$"^    Readers\.ReadLoopAsync  .*Program\.cs:{StacksTarget.LineOf("reader")}$", lines[2]);
        Assert.Equal("3 × waiting on TaskCompletionSource<int>.Task", lines[3]);
        Assert.Matches(@$"^    Waiters\.InnerAsync  .*Program\.cs:{StacksTarget.LineOf("inner")}$", lines[4]);
        Assert.Equal($"1 × a running delegate task, waiting on {Blocked}", lines[7]);
    }

    [Fact(Timeout = Timeout)]
    public async Task Folded_output_is_one_line_per_stack_root_first_with_its_count()
    {
        await using var target = await StacksTarget.StartAsync();

        var (code, output, error) = Noleaks.Run("stacks", target.Pid.ToString(), "--folded");

        Assert.True(code == 0, error);
        Assert.Equal(
            [
                $"Readers.ReadLoopAsync (Program.cs:{StacksTarget.LineOf("reader")});waiting on ChannelReader<int>.ReadAsync() on a channel nobody writes to or completes 10",
                $"Waiters.OuterAsync (Program.cs:{StacksTarget.LineOf("outer")});Waiters.MiddleAsync (Program.cs:{StacksTarget.LineOf("middle")});Waiters.InnerAsync (Program.cs:{StacksTarget.LineOf("inner")});waiting on TaskCompletionSource<int>.Task 3",
                $"Program.Main (lambda) (Program.cs:{StacksTarget.LineOf("blocked")});waiting on {Blocked} 1",
            ],
            output.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    [Fact(Timeout = Timeout)]
    public async Task All_lists_every_operation_on_its_own_and_filter_keeps_the_stacks_with_a_matching_method()
    {
        await using var target = await StacksTarget.StartAsync();

        var (code, output, error) = Noleaks.Run("stacks", target.Pid.ToString(), "--all", "--json", "--filter", "Waiters.Middle*");

        Assert.True(code == 0, error);
        using var json = JsonDocument.Parse(output);
        var stacks = json.RootElement.GetProperty("stacks").EnumerateArray().ToList();
        Assert.Equal(3, stacks.Count);
        Assert.All(stacks, s => Assert.Equal(1, s.GetProperty("count").GetInt32()));
        Assert.All(stacks, s => Assert.Equal("TaskCompletionSource<int>.Task", s.GetProperty("waitingOn").GetString()));
        Assert.Equal(3, stacks.Select(s => s.GetProperty("address").GetString()).Distinct().Count());
    }

    /// <summary>"count | waiting on | method:line &lt;- …" for each stack of a JSON reading, in its order.</summary>
    internal static List<string> Summaries(JsonElement reading) =>
        [.. reading.GetProperty("stacks").EnumerateArray().Select(stack =>
            $"{stack.GetProperty("count").GetInt32()} | {stack.GetProperty("waitingOn").GetString()} | "
            + string.Join(" <- ", stack.GetProperty("frames").EnumerateArray().Select(f =>
                $"{f.GetProperty("method").GetString()}:{(f.TryGetProperty("line", out var line) ? line.GetInt32() : 0)}")))];

    private static IEnumerable<JsonElement> Frames(JsonElement reading) =>
        reading.GetProperty("stacks").EnumerateArray().SelectMany(s => s.GetProperty("frames").EnumerateArray());
}
