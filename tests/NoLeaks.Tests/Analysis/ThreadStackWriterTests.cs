#if NET10_0_OR_GREATER
using NoLeaks.Stacks;

namespace NoLeaks.Tests.Analysis;

/// <summary>
/// The stack reader lets a process's other threads run while it reads the roots of a thread it holds; a GC may then move
/// the task that thread executes and write the new address into its stack slot. <see cref="ThreadStackWriter.Follow"/>
/// reads the task where the slot points, and leaves it out only when the slot cannot be trusted. (ThreadStackWriter is
/// compiled into the net10.0 build of NoLeaks only.)
/// </summary>
public class ThreadStackWriterTests
{
    private const ulong First = 0x7f00_0000_1000;
    private const ulong Moved = 0x7f00_0000_8000;
    private const ulong MovedAgain = 0x7f00_0002_0000;

    private static Func<ulong?> Slot(params ulong?[] values)
    {
        var queue = new Queue<ulong?>(values);
        return () => queue.Count > 1 ? queue.Dequeue() : queue.Peek();
    }

    [Fact]
    public void A_slot_that_still_holds_the_task_keeps_what_was_read()
    {
        var reads = new List<ulong>();
        Assert.Equal((First, 7), ThreadStackWriter.Follow(First, Slot(First), a => { reads.Add(a); return 7; }));
        Assert.Equal([First], reads);
    }

    [Fact]
    public void A_task_the_GC_moved_is_read_at_its_new_address()
    {
        var reads = new List<ulong>();
        Assert.Equal((Moved, 7), ThreadStackWriter.Follow(First, Slot(Moved), a => { reads.Add(a); return a == Moved ? 7 : 123; }));
        Assert.Equal([First, Moved], reads);
    }

    [Fact]
    public void A_task_moved_twice_while_read_is_read_where_it_stays()
    {
        var reads = new List<ulong>();
        Assert.Equal((MovedAgain, 9), ThreadStackWriter.Follow(First, Slot(Moved, MovedAgain), a => { reads.Add(a); return a == MovedAgain ? 9 : 8; }));
        Assert.Equal([First, Moved, MovedAgain], reads);
    }

    [Fact]
    public void A_read_torn_by_a_move_is_made_again_where_the_task_went()
    {
        // What was seen: at the old address ClrMD read a type it could not list the fields of (NullReferenceException).
        Assert.Equal((Moved, 7), ThreadStackWriter.Follow(First, Slot(Moved), a => a == First ? throw new NullReferenceException() : 7));
    }

    [Fact]
    public void A_read_that_fails_where_the_task_stays_is_made_again_and_given_up_after_the_attempts()
    {
        var reads = 0;
        Assert.Null(ThreadStackWriter.Follow(First, Slot(First), _ => { reads++; throw new InvalidOperationException(); }));
        Assert.Equal(ThreadStackWriter.FollowAttempts, reads);
    }

    [Fact]
    public void No_task_where_the_slot_points_is_no_task()
    {
        Assert.Null(ThreadStackWriter.Follow(First, Slot(First), _ => null));
        Assert.Null(ThreadStackWriter.Follow(First, readSlot: null, _ => null));
    }

    [Fact]
    public void Without_other_threads_running_the_task_is_read_once()
    {
        var reads = 0;
        Assert.Equal((First, 7), ThreadStackWriter.Follow(First, readSlot: null, _ => { reads++; return 7; }));
        Assert.Null(ThreadStackWriter.Follow(First, readSlot: null, _ => { reads++; throw new NullReferenceException(); }));
        Assert.Equal(2, reads);
    }

    [Fact]
    public void A_slot_that_cannot_be_read_or_is_empty_leaves_the_task_out()
    {
        Assert.Null(ThreadStackWriter.Follow(First, Slot((ulong?)null), _ => 7));
        Assert.Null(ThreadStackWriter.Follow(First, Slot(0), _ => 7));
        Assert.Null(ThreadStackWriter.Follow(First, Slot(Moved, null), _ => 7));
    }

    [Fact]
    public void A_slot_that_never_holds_still_leaves_the_task_out()
    {
        var next = First;
        var reads = 0;
        Assert.Null(ThreadStackWriter.Follow(First, () => next += 0x100, _ => ++reads));
        Assert.Equal(ThreadStackWriter.FollowAttempts, reads);
    }
}
#endif
