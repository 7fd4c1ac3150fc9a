using System.Runtime.ExceptionServices;

namespace NoLeaks.Heap;

/// <summary>
/// Runs a heap read on a thread of its own with a time bound, so that a read that never ends (a native hang in the
/// runtime's data access layer, a lock that is never released) lets its test go instead of holding it. A read left
/// behind may keep the heap's lock for good: from then on every heap read of the process fails at once with the
/// same reason rather than queueing behind it.
/// </summary>
internal sealed class HeapWatchdog
{
    private volatile string? _hung;

    /// <summary>The watchdog of the process's shared heap (<see cref="SharedHeap"/>).</summary>
    public static HeapWatchdog Shared { get; } = new();

    /// <summary>Why the heap is no longer read in this process (a read overran its bound), or null.</summary>
    public string? HungReason => _hung;

    /// <summary>
    /// Runs <paramref name="read"/> and returns its result; rethrows what it throws; throws a
    /// <see cref="TimeoutException"/> when it has not ended after <paramref name="bound"/> (or an earlier read hung).
    /// </summary>
    public T Run<T>(string what, TimeSpan bound, Func<T> read)
    {
        if (_hung is { } reason)
        {
            throw new TimeoutException(reason);
        }

        T result = default!;
        ExceptionDispatchInfo? failure = null;
        var reader = new Thread(() =>
        {
            try
            {
                result = read();
            }
            catch (Exception e)
            {
                failure = ExceptionDispatchInfo.Capture(e);
            }
        })
        {
            IsBackground = true,
            Name = $"NoLeaks {what}",
        };

        // Not a task (it belongs to no scope) and without the caller's ExecutionContext (nothing it makes is a test's).
        reader.UnsafeStart();
        if (!reader.Join(bound))
        {
            _hung ??= $"a heap read ({what}) did not end within {bound.TotalSeconds:0} s and was left behind; the heap is not read again in this process";
            throw new TimeoutException(_hung);
        }

        failure?.Throw();
        return result;
    }
}
