// Stands in for a test framework's own machinery (xunit v2 leaves a worker task pending after many tests):
// code in a framework namespace, which the built-in filters allow.
namespace Xunit.NoLeaksTestDoubles;

internal static class FrameworkLikeWork
{
    public static Task StartWorker(ManualResetEventSlim stop) =>
        Task.Factory.StartNew(() => stop.Wait(), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
}
