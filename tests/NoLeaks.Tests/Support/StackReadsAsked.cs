using System.Runtime.CompilerServices;
using NoLeaks.Analysis;

namespace NoLeaks.Tests.Support;

/// <summary>
/// In this test process, thread stacks are read only where a test asks (<see cref="NoLeaksOptions.ReadThreadStacks"/>, or
/// <see cref="Unasked"/>): by default NoLeaks reads them for every report with running work, a child process's start
/// each, which the many such reports of these tests need not pay.
/// </summary>
internal static class StackReadsAsked
{
    [ModuleInitializer]
    internal static void Initialize() => RunningWork.ReadsUnasked = false;

    /// <summary>The default back on until disposed: for the tests of that default, in a collection that runs alone.</summary>
    public static IDisposable Unasked()
    {
        RunningWork.ReadsUnasked = true;
        return new Restore();
    }

    private sealed class Restore : IDisposable
    {
        public void Dispose() => RunningWork.ReadsUnasked = false;
    }
}
