using Microsoft.Diagnostics.Runtime;

namespace NoLeaks.Heap;

internal sealed partial class ProcessHeap
{
    /// <summary>
    /// The second thread of a parallel walk: one per heap, started on first use, asleep between snapshots. A thread
    /// of its own rather than a pool task: it must not be a task a scope could own, nor wait for a pool that a test
    /// has starved. Started without the creator's ExecutionContext.
    /// </summary>
    private sealed class WalkHelper
    {
        private readonly ProcessHeap _heap;
        private readonly byte[] _buffer = GC.AllocateUninitializedArray<byte>(1 << 20, pinned: true);
        private readonly SemaphoreSlim _start = new(0);
        private readonly SemaphoreSlim _done = new(0);
        private IReadOnlyList<MemoryRange> _ranges = [];
        private (long Objects, int Torn) _result;
        private Exception? _failure;

        private WalkHelper(ProcessHeap heap) => _heap = heap;

        public List<(ulong, TypeInfo)> Candidates { get; } = new(1024);

        /// <summary>The heap's helper, started on first use; null when no thread could be started (one thread walks).</summary>
        public static WalkHelper? For(ProcessHeap heap)
        {
            if (heap._walkHelper is not null || heap._walkHelperFailed)
            {
                return heap._walkHelper;
            }

            try
            {
                var helper = new WalkHelper(heap);
                var thread = new Thread(helper.Run) { IsBackground = true, Name = "NoLeaks heap walk" };
                thread.UnsafeStart();
                return heap._walkHelper = helper;
            }
            catch (Exception)
            {
                heap._walkHelperFailed = true;
                return null;
            }
        }

        public void Start(IReadOnlyList<MemoryRange> ranges)
        {
            _ranges = ranges;
            Candidates.Clear();
            _failure = null;
            _start.Release();
        }

        /// <summary>Waits for the helper's half of the walk (always called once after <see cref="Start"/>).</summary>
        public void Finish() => _done.Wait();

        /// <summary>The helper's counts; rethrows what failed on its thread (the snapshot turns it into a warning).</summary>
        public (long Objects, int Torn) Result() =>
            _failure is { } failure ? throw new InvalidOperationException($"the heap walk's second thread failed: {failure.Message}", failure) : _result;

        private void Run()
        {
            while (true)
            {
                _start.Wait();
                try
                {
                    _result = _heap.WalkRanges(_ranges, _buffer, Candidates);
                }
                catch (Exception e)
                {
                    _failure = e;
                }
                finally
                {
                    _done.Release();
                }
            }
        }
    }

    private WalkHelper? _walkHelper;
    private bool _walkHelperFailed;
}
