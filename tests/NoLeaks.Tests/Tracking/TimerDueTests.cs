using System.Diagnostics;
using NoLeaks.Tracking;

namespace NoLeaks.Tests.Tracking;

/// <summary>
/// The due moment of Task.Delay's timer, read from the runtime's timer (<see cref="TimerDue"/>): these fail when a runtime
/// moves the fields, so that late timers are not silently taken for leaks again.
/// </summary>
public class TimerDueTests
{
    [Fact]
    public void This_runtime_has_the_timer_fields_the_due_moment_is_read_from()
    {
        Assert.Null(TimerDue.MissingInternals);
    }

    [Fact]
    public void A_delay_on_the_system_clock_is_due_when_its_delay_has_passed()
    {
        using var cancel = new CancellationTokenSource();
        var before = Stopwatch.GetTimestamp();
        var delay = Task.Delay(TimeSpan.FromMinutes(10), cancel.Token);
        var after = Stopwatch.GetTimestamp();

        var due = TimerDue.TimestampOf(delay);
        cancel.Cancel();

        // TimerQueue counts whole milliseconds; a second either side is far more than its rounding.
        var tenMinutes = 600 * Stopwatch.Frequency;
        Assert.NotNull(due);
        Assert.InRange(due.Value, before + tenMinutes - Stopwatch.Frequency, after + tenMinutes + Stopwatch.Frequency);
    }

    [Fact]
    public void An_infinite_delay_a_delay_on_a_time_provider_of_the_user_s_or_another_task_has_no_due_moment()
    {
        using var cancel = new CancellationTokenSource();
        var infinite = Task.Delay(Timeout.Infinite, cancel.Token);
        var onItsOwnClock = Task.Delay(TimeSpan.FromMinutes(10), new StoppedClock(), cancel.Token);
        var promise = new TaskCompletionSource().Task;

        Assert.Null(TimerDue.TimestampOf(infinite));
        Assert.Null(TimerDue.TimestampOf(onItsOwnClock));
        Assert.Null(TimerDue.TimestampOf(promise));
        Assert.Null(TimerDue.TimestampOf(null));
        cancel.Cancel();
    }

    /// <summary>A clock whose timers never fire.</summary>
    private sealed class StoppedClock : TimeProvider
    {
        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period) => new StoppedTimer();

        private sealed class StoppedTimer : ITimer
        {
            public bool Change(TimeSpan dueTime, TimeSpan period) => true;

            public void Dispose()
            {
            }

            public ValueTask DisposeAsync() => ValueTask.CompletedTask;
        }
    }
}
