using System.Runtime.CompilerServices;
using FluentAssertions;

namespace NoLeaks.FluentAssertions.Tests;

public class NoLeaksAssertionExtensionsTests
{
    private const int TestTimeout = 30_000;

    private static readonly NoLeaksOptions Quick = new() { GracePeriod = TimeSpan.FromMilliseconds(50) };

    private static async Task AwaitAsync(Task never) => await never; // @await

    [Fact(Timeout = TestTimeout)]
    public async Task Leaking_function_fails_the_assertion_with_the_report()
    {
        var never = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Func<Task> act = async () => { _ = AwaitAsync(never.Task); };

        var thrown = await Assert.ThrowsAnyAsync<Exception>(() => act.Should().NotLeakTasksAsync(Quick, "the service {0} stops its pump", "OrderService"));
        never.SetResult();

        Assert.Contains("not to leave async work behind because the service OrderService stops its pump, but it did.", thrown.Message);
        Assert.Contains($"[1] NoLeaksAssertionExtensionsTests.AwaitAsync  suspended at {ThisFile()}:", thrown.Message);
        Assert.Contains("waiting on  TaskCompletionSource.Task", thrown.Message);
    }

    [Fact(Timeout = TestTimeout)]
    public async Task Clean_function_passes_and_exposes_its_report()
    {
        Func<Task> act = async () => await Task.Yield();

        var report = (await act.Should().NotLeakTasksAsync(Quick)).Which;

        Assert.True(report.IsClean);
    }

    [Fact(Timeout = TestTimeout)]
    public async Task Warn_action_lets_the_assertion_pass()
    {
        var never = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Func<Task> act = async () => { _ = AwaitAsync(never.Task); };

        var report = (await act.Should().NotLeakTasksAsync(new NoLeaksOptions { GracePeriod = TimeSpan.Zero, Action = LeakAction.Warn })).Which;
        never.SetResult();

        Assert.Single(report.Leaks);
    }

    [Fact(Timeout = TestTimeout)]
    public async Task The_functions_own_exception_propagates()
    {
        Func<Task> act = () => throw new InvalidOperationException("its own failure");

        var thrown = await Assert.ThrowsAsync<InvalidOperationException>(() => act.Should().NotLeakTasksAsync(Quick));

        Assert.Equal("its own failure", thrown.Message);
    }

    private static string ThisFile([CallerFilePath] string file = "") => file;
}
