using System.Diagnostics;

namespace NoLeaks.Policy;

/// <summary>
/// Waits, after a scope ends, for its pending work to finish: checks again after 1, 2, 4 … ms (at most a quarter
/// of the grace period apart) until nothing is left or the grace period is over.
/// Runs on a timer whose callbacks carry no ExecutionContext and create no tasks, so the wait itself can never
/// be mistaken for the scope's work.
/// </summary>
internal sealed class GracePeriod
{
    private static readonly TimeSpan FirstDelay = TimeSpan.FromMilliseconds(1);
    private static readonly TimeSpan ExtendedDelay = TimeSpan.FromMilliseconds(50);

    private readonly Func<LeakReport?> _check;
    private readonly Func<LeakReport> _final;
    private readonly Func<Exception, LeakReport> _failed;
    private readonly object _gate = new();
    private readonly TimeSpan _length;
    private readonly TimeSpan _maxDelay;
    private readonly CancellationToken _cancellation;
    private readonly long _started = Stopwatch.GetTimestamp();
    private readonly TaskCompletionSource<LeakReport> _result = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Timer? _timer;
    private Timer? _watchdog;
    private TimeSpan _delay = FirstDelay;
    private int _done;
    private Func<bool>? _extend;
    private TimeSpan _maxExtension;

    /// <summary>Whether the wait has gone past its length (then it lasts only while <see cref="_extend"/> says so).</summary>
    private bool _extended;

    /// <param name="check">Checks again; returns a clean report to stop waiting, or null to go on.</param>
    /// <param name="final">Makes the report when the wait is over.</param>
    /// <param name="failed">Makes a report out of an unexpected failure, so that nothing is thrown at the test.</param>
    /// <param name="length">How long to wait at most.</param>
    /// <param name="cancellation">Cuts the wait short.</param>
    private GracePeriod(
        Func<LeakReport?> check, Func<LeakReport> final, Func<Exception, LeakReport> failed, TimeSpan length, CancellationToken cancellation)
    {
        _check = check;
        _final = final;
        _failed = failed;
        _length = length;
        _maxDelay = TimeSpan.FromTicks(Math.Max(FirstDelay.Ticks, length.Ticks / 4));
        _cancellation = cancellation;
    }

    private Action<LeakReport>? _beforeResult;

    public Task<LeakReport> Task => _result.Task;

    public TimeSpan Elapsed => Stopwatch.GetElapsedTime(_started);

    /// <summary>Starts waiting; the first check comes after a millisecond.</summary>
    /// <param name="check">Checks again; returns a clean report to stop waiting, or null to go on.</param>
    /// <param name="final">Makes the report when the wait is over.</param>
    /// <param name="failed">Makes a report out of an unexpected failure, so that nothing is thrown at the test.</param>
    /// <param name="length">How long to wait at most.</param>
    /// <param name="cancellation">Cuts the wait short.</param>
    /// <param name="beforeResult">Called with the report before the wait's task completes.</param>
    /// <param name="overrun">When set: if no report is made this long after the start (a check hung in a source), the
    /// wait ends with <paramref name="failed"/>'s report of a <see cref="TimeoutException"/>, and the hung check is left
    /// behind, so that no test waits forever for its check. The extension is added to it.</param>
    /// <param name="extend">Asked when the grace period is over: true to go on waiting (checking as before), up to
    /// <paramref name="maxExtension"/> longer.</param>
    /// <param name="maxExtension">The longest the wait may go on past <paramref name="length"/>.</param>
    public static GracePeriod Start(
        Func<LeakReport?> check,
        Func<LeakReport> final,
        Func<Exception, LeakReport> failed,
        TimeSpan length,
        CancellationToken cancellation,
        Action<LeakReport>? beforeResult = null,
        TimeSpan? overrun = null,
        Func<bool>? extend = null,
        TimeSpan maxExtension = default)
    {
        var wait = new GracePeriod(check, final, failed, length, cancellation)
        {
            _beforeResult = beforeResult,
            _extend = extend,
            _maxExtension = extend is null || maxExtension < TimeSpan.Zero ? TimeSpan.Zero : maxExtension,
        };
        overrun += wait._maxExtension;
        using (ExecutionContext.SuppressFlow())
        {
            if (overrun is { } bound)
            {
                // Apart from the check's lock, which a hung check holds.
                wait._watchdog = new Timer(static state => ((GracePeriod)state!).Overrun(), wait, bound, Timeout.InfiniteTimeSpan);
            }

            wait._timer = new Timer(static state => ((GracePeriod)state!).Tick(), wait, Timeout.Infinite, Timeout.Infinite);
            if (cancellation.CanBeCanceled)
            {
                cancellation.UnsafeRegister(static state => ((GracePeriod)state!).Tick(), wait);
            }
        }

        lock (wait._gate)
        {
            if (wait._done == 0)
            {
                wait._timer.Change(wait.NextDelay(), Timeout.InfiniteTimeSpan);
            }
        }

        return wait;
    }

    private TimeSpan NextDelay()
    {
        var remaining = (_extended ? _length + _maxExtension : _length) - Elapsed;
        var next = _extended && _delay < ExtendedDelay ? ExtendedDelay : _delay; // each tick past the length is a full check
        var delay = next < remaining ? next : remaining;
        _delay = TimeSpan.FromTicks(Math.Min(_delay.Ticks * 2, _maxDelay.Ticks));
        return delay < TimeSpan.Zero ? TimeSpan.Zero : delay;
    }

    private void Tick()
    {
        if (Volatile.Read(ref _done) != 0)
        {
            return;
        }

        // The timer and the cancellation callback may both tick: one check at a time.
        lock (_gate)
        {
            if (_done != 0)
            {
                return;
            }

            LeakReport? report;
            try
            {
                var over = _cancellation.IsCancellationRequested || (Elapsed >= _length && !Extends());
                report = over ? _final() : _check();
            }
            catch (Exception e)
            {
                report = _failed(e);
            }

            if (_done != 0)
            {
                // Finished from inside the check (a cancellation raised on this thread ticks again, under this lock).
                return;
            }

            if (report is null)
            {
                _timer?.Change(NextDelay(), Timeout.InfiniteTimeSpan);
                return;
            }

            Finish(report);
        }
    }

    /// <summary>Past the length: whether to go on waiting (asked at each tick, within the longest extension).</summary>
    private bool Extends()
    {
        if (_extend is null || Elapsed >= _length + _maxExtension || !_extend())
        {
            return false;
        }

        _extended = true;
        return true;
    }

    private void Overrun()
    {
        if (Volatile.Read(ref _done) != 0)
        {
            return;
        }

        LeakReport report;
        try
        {
            report = _failed(new TimeoutException(
                $"the check did not finish within {Elapsed.TotalSeconds:0.0} s (its grace period, the heap search's budget and a margin); the test was let go"));
        }
        catch (Exception)
        {
            // Only the report's maker can fail here; without a report the test would wait on.
            return;
        }

        Finish(report);
    }

    private void Finish(LeakReport report)
    {
        if (Interlocked.Exchange(ref _done, 1) == 0)
        {
            _watchdog?.Dispose();
            _timer?.Dispose();
            try
            {
                // Whoever awaits the report finds the scope done with it (tracking released, report stored).
                _beforeResult?.Invoke(report);
            }
            catch (Exception)
            {
                // Bookkeeping only: the report is what matters.
            }

            _result.TrySetResult(report);
        }
    }
}
