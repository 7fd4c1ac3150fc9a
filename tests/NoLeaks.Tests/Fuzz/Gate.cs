using System.IO.Pipes;
using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Threading.Channels;
using System.Threading.Tasks.Sources;

namespace NoLeaks.Tests.Fuzz;

/// <summary>How a gate is opened: its promise completes, faults or is cancelled (blocking primitives just open).</summary>
internal enum GateOutcome
{
    Result,
    Fault,
    Cancel,
}

/// <summary>
/// Everything a generated strand of work can block on, opened all at once. Opening a primitive nobody waits on does
/// nothing, so every strand shares one kind of gate whatever its leaf.
/// </summary>
internal sealed class Gate : IDisposable
{
    private readonly CancellationTokenSource _cancel = new();
    private int _opened;
    private (Socket Mine, Socket Peer)? _sockets;
    private (AnonymousPipeServerStream Reader, AnonymousPipeClientStream Writer)? _pipe;

    /// <param name="runContinuationsAsynchronously">For the promise.</param>
    /// <param name="sourceRunsContinuationsAsynchronously">For the value-task source.</param>
    /// <param name="io">Makes the socket pair and the pipe now: a launcher may start the strand after the gate opened.</param>
    public Gate(bool runContinuationsAsynchronously, bool sourceRunsContinuationsAsynchronously, bool io)
    {
        if (io)
        {
            _ = Socket;
            _ = Pipe;
        }

        Promise = new TaskCompletionSource<int>(
            runContinuationsAsynchronously ? TaskCreationOptions.RunContinuationsAsynchronously : TaskCreationOptions.None);
        Source = new ManualSource(sourceRunsContinuationsAsynchronously);
    }

    public TaskCompletionSource<int> Promise { get; }

    public CancellationToken Token => _cancel.Token;

    public SemaphoreSlim Semaphore { get; } = new(0);

    public Channel<int> Channel { get; } = System.Threading.Channels.Channel.CreateUnbounded<int>();

    public ManualResetEventSlim Event { get; } = new();

    public ManualSource Source { get; }

    public ManualAwaitable Awaitable { get; } = new();

    /// <summary>A connected loopback TCP pair; the gate sends a byte from the peer.</summary>
    public Socket Socket
    {
        get
        {
            if (_sockets is null)
            {
                using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
                listener.Listen(1);
                var peer = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                peer.Connect(listener.LocalEndPoint!);
                _sockets = (listener.Accept(), peer);
            }

            return _sockets.Value.Mine;
        }
    }

    /// <summary>The reading end of an anonymous pipe; the gate writes a byte to it.</summary>
    public Stream Pipe
    {
        get
        {
            if (_pipe is null)
            {
                var reader = new AnonymousPipeServerStream(PipeDirection.In);
                _pipe = (reader, new AnonymousPipeClientStream(PipeDirection.Out, reader.ClientSafePipeHandle));
            }

            return _pipe.Value.Reader;
        }
    }

    /// <summary>When the gate was opened (Stopwatch ticks), or 0.</summary>
    public long OpenedAt { get; private set; }

    public void Open(GateOutcome outcome)
    {
        if (Interlocked.Exchange(ref _opened, 1) != 0)
        {
            return;
        }

        OpenedAt = System.Diagnostics.Stopwatch.GetTimestamp();
        _ = outcome switch
        {
            GateOutcome.Fault => Promise.TrySetException(new InvalidOperationException("gate faulted")),
            GateOutcome.Cancel => Promise.TrySetCanceled(),
            _ => Promise.TrySetResult(1),
        };
        try
        {
            _cancel.Cancel();
            Semaphore.Release(64);
            Channel.Writer.TryComplete();
            Event.Set();
            Source.Open();
            Awaitable.Open();
            _sockets?.Peer.Send([1]);
            _pipe?.Writer.Write([1]);
        }
        catch (ObjectDisposedException)
        {
            // Completing the promise above can end the strand and, through continuations run inline, its case: the
            // harness then disposes the gate while a pool thread is still opening the rest of it. Nothing waits on
            // the rest any more.
        }
    }

    /// <summary>Closes the sockets and pipes (after the gate is open and the case judged).</summary>
    public void Dispose()
    {
        if (_sockets is { } sockets)
        {
            sockets.Peer.Dispose();
            sockets.Mine.Dispose();
        }

        if (_pipe is { } pipe)
        {
            pipe.Writer.Dispose();
            pipe.Reader.Dispose();
        }

        Semaphore.Dispose();
        Event.Dispose();
        _cancel.Dispose();
    }
}

/// <summary>A hand-written <see cref="IValueTaskSource"/> over <see cref="ManualResetValueTaskSourceCore{TResult}"/>.</summary>
internal sealed class ManualSource(bool runContinuationsAsynchronously) : IValueTaskSource
{
    private ManualResetValueTaskSourceCore<bool> _core = new() { RunContinuationsAsynchronously = runContinuationsAsynchronously };
    private int _opened;

    public ValueTask WaitAsync() => new(this, _core.Version);

    public void Open()
    {
        if (Interlocked.Exchange(ref _opened, 1) == 0)
        {
            _core.SetResult(true);
        }
    }

    public void GetResult(short token) => _core.GetResult(token);

    public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);

    public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);
}

/// <summary>A custom awaitable (a class awaiter that only implements <see cref="INotifyCompletion"/>).</summary>
internal sealed class ManualAwaitable : INotifyCompletion
{
    private Action? _continuation;
    private int _opened;

    public bool IsCompleted => Volatile.Read(ref _opened) == 1;

    public ManualAwaitable GetAwaiter() => this;

    public void GetResult()
    {
    }

    public void OnCompleted(Action continuation)
    {
        Volatile.Write(ref _continuation, continuation);
        if (IsCompleted)
        {
            Interlocked.Exchange(ref _continuation, null)?.Invoke();
        }
    }

    public void Open()
    {
        Volatile.Write(ref _opened, 1);
        Interlocked.Exchange(ref _continuation, null)?.Invoke();
    }
}
