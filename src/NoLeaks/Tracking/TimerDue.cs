using System.Diagnostics;
using System.Reflection;

namespace NoLeaks.Tracking;

/// <summary>
/// When the system timer behind a <c>Task.Delay</c> is due: the check waits on past its grace period for work whose
/// timer was due and has not fired (a machine or thread pool too busy to fire it), since such work is late, not left
/// behind. Read by reflection from the runtime's timer; a field that is missing makes the due moment unknown, and work
/// waiting on the timer is then reported when the grace period ends, as before.
/// </summary>
internal static class TimerDue
{
    private const BindingFlags Instance = BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic;

    // System.Threading.TimerQueueTimer (.NET Core 3.0 – 11): the runtime's timer, what Task.Delay on the system clock holds
    // in DelayPromise._timer. A TimeProvider's own timer is another type, and has no due moment this can read.
    private static readonly Type? QueueTimer = typeof(Timer).Assembly.GetType("System.Threading.TimerQueueTimer");

    // Task.DelayPromise._timer (.NET 5 – 11): the promise's timer (an ITimer); null for an infinite delay.
    private static readonly FieldInfo? DelayTimer = typeof(Task).GetNestedType("DelayPromise", BindingFlags.NonPublic)?.GetField("_timer", Instance);

    // TimerQueueTimer._startTicks (long) and _dueTime (uint, milliseconds; uint.MaxValue when not scheduled), .NET Core
    // 3.0 – 11: the timer fires once TimerQueue.TickCount64 reaches _startTicks + _dueTime.
    private static readonly FieldInfo? StartTicks = QueueTimer?.GetField("_startTicks", Instance) is { FieldType: var t } f && t == typeof(long) ? f : null;
    private static readonly FieldInfo? DueTime = QueueTimer?.GetField("_dueTime", Instance) is { FieldType: var t } f && t == typeof(uint) ? f : null;

    // TimerQueue.TickCount64 (.NET Core 3.0 – 10), static: the clock the timers above count on. .NET 11 has no such
    // property; there, Environment.TickCount64 is used if a timer started just now reads the same (ProbedTickCount).
    private static readonly Func<long>? TickCount = TickCountOf(typeof(Timer).Assembly.GetType("System.Threading.TimerQueue")) ?? ProbedTickCount();

    /// <summary>Environment.TickCount64, when the start of a delay begun now is within a second of it; otherwise null.</summary>
    private static Func<long>? ProbedTickCount()
    {
        try
        {
            using var cancel = new CancellationTokenSource();
            var delay = Task.Delay(TimeSpan.FromDays(1), cancel.Token);
            var now = Environment.TickCount64;
            var timer = DelayTimer?.GetValue(delay);
            var start = timer is not null && timer.GetType() == QueueTimer ? StartTicks?.GetValue(timer) as long? : null;
            cancel.Cancel();
            return start is { } ticks && Math.Abs(ticks - now) < 1000 ? () => Environment.TickCount64 : null;
        }
        catch (Exception e) when (e is ArgumentException or TargetException or InvalidOperationException)
        {
            return null;
        }
    }

    /// <summary>The first runtime field this reader needs that is not where it expects it; null when all are.</summary>
    public static string? MissingInternals =>
        QueueTimer is null ? "System.Threading.TimerQueueTimer"
        : DelayTimer is null ? "Task.DelayPromise._timer"
        : StartTicks is null ? "TimerQueueTimer._startTicks"
        : DueTime is null ? "TimerQueueTimer._dueTime"
        : TickCount is null ? "TimerQueue.TickCount64 (or a timer clock Environment.TickCount64 matches)"
        : null;

    private static Func<long>? TickCountOf(Type? timerQueue)
    {
        try
        {
            return timerQueue?.GetProperty("TickCount64", BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic)?.GetMethod
                is { ReturnType: var type, IsStatic: true } getter && type == typeof(long) && getter.GetParameters().Length == 0
                ? getter.CreateDelegate<Func<long>>()
                : null;
        }
        catch (Exception e) when (e is ArgumentException or MemberAccessException or NotSupportedException)
        {
            // A getter that cannot be bound: the due moment is unknown, as if the property were missing.
            return null;
        }
    }

    /// <summary>
    /// The <see cref="Stopwatch"/> timestamp at which the system timer of <paramref name="delay"/> (a <c>Task.Delay</c>
    /// promise) is due; null when it is not such a promise, its timer is not the runtime's or not scheduled, or a field
    /// is missing.
    /// </summary>
    public static long? TimestampOf(object? delay)
    {
        try
        {
            if (delay is not Task task || DelayTimer?.DeclaringType is not { } promise || !promise.IsInstanceOfType(task)
                || TickCount is null || StartTicks is null || DueTime is null)
            {
                return null;
            }

            var timer = DelayTimer.GetValue(task);
            if (timer is null || timer.GetType() != QueueTimer || DueTime.GetValue(timer) is not uint due || due == uint.MaxValue
                || StartTicks.GetValue(timer) is not long start)
            {
                return null;
            }

            var dueInMilliseconds = start + due - TickCount();
            return Stopwatch.GetTimestamp() + (dueInMilliseconds * Stopwatch.Frequency / 1000);
        }
        catch (Exception e) when (e is TargetException or TargetInvocationException or ArgumentException or InvalidCastException or OverflowException)
        {
            return null;
        }
    }
}
