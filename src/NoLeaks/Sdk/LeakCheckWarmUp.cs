namespace NoLeaks.Sdk;

/// <summary>
/// Starts the leak engine ahead of the first test. Starting it costs about 50 ms once per process (switching on the
/// runtime's task tracking, the creation hook's event source manifest, JIT); adapters call this when their attribute
/// is first seen, during discovery, so that the first test does not pay for it.
/// </summary>
public static class LeakCheckWarmUp
{
    private static readonly TaskCompletionSource Done = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private static int _started;

    /// <summary>Completes when the warm-up has run (tests only).</summary>
    internal static Task Completion => Done.Task;

    /// <summary>
    /// Starts the engine on a thread-pool thread; later calls do nothing, and so does a run with
    /// <c>NOLEAKS_ACTION=off</c> (no check, so no tracking either). Never throws.
    /// </summary>
    public static void StartInBackground()
    {
        if (NoLeaksOptions.ActionFromEnvironment() == LeakAction.Off || Interlocked.Exchange(ref _started, 1) != 0)
        {
            return;
        }

        try
        {
            // No ExecutionContext: the warm-up scope must not be visible to anything, nor anything to it.
            ThreadPool.UnsafeQueueUserWorkItem(static _ => Run(), null);
        }
        catch (Exception)
        {
            // The first scope starts the engine itself.
        }
    }

    private static void Run()
    {
        try
        {
            var scope = LeakScope.Begin("NoLeaks warm-up", new NoLeaksOptions { GracePeriod = TimeSpan.Zero });
            scope.EndAsync().AsTask().GetAwaiter().GetResult();
        }
        catch (Exception)
        {
            // The first scope starts the engine itself and reports what went wrong.
        }
        finally
        {
            Done.TrySetResult();
        }
    }
}
