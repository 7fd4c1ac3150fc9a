namespace NoLeaks.Cli.Tests;

/// <summary>A suspended process's memory is read a page at a time, once, and read as the process's own reader reads it.</summary>
public sealed class PageCacheTests
{
    private const ulong Start = 0x10000;
    private const int Page = PageCache.PageSize;

    [Fact]
    public void A_page_is_read_once_however_many_reads_fall_in_it()
    {
        var memory = new Memory(pages: 2);
        var cache = new PageCache(memory.Read);
        var word = new byte[8];

        for (var i = 0; i < 100; i++)
        {
            Assert.Equal(8, cache.Read(Start + 8 + (ulong)(i * 16), word));
            Assert.Equal(memory.BytesAt(Start + 8 + (ulong)(i * 16), 8), word);
        }

        Assert.Equal(1, memory.Reads);
    }

    [Fact]
    public void A_read_across_a_page_boundary_has_the_bytes_of_both_pages()
    {
        var memory = new Memory(pages: 2);
        var cache = new PageCache(memory.Read);
        var bytes = new byte[64];

        Assert.Equal(64, cache.Read(Start + Page - 32, bytes));

        Assert.Equal(memory.BytesAt(Start + Page - 32, 64), bytes);
        Assert.Equal(2, memory.Reads);
    }

    [Fact]
    public void A_read_that_runs_into_unreadable_memory_returns_what_is_readable_before_it()
    {
        var memory = new Memory(pages: 1);
        var cache = new PageCache(memory.Read);
        var bytes = new byte[64];

        Assert.Equal(16, cache.Read(Start + Page - 16, bytes));
        Assert.Equal(memory.BytesAt(Start + Page - 16, 16), bytes[..16]);
        Assert.Equal(0, cache.Read(Start + Page + 8, bytes));
        Assert.Equal(0, cache.Read(Start - 8, bytes));
    }

    [Fact]
    public void A_read_larger_than_a_page_is_made_directly_each_time()
    {
        var memory = new Memory(pages: 4);
        var cache = new PageCache(memory.Read);
        var bytes = new byte[3 * Page];

        Assert.Equal(bytes.Length, cache.Read(Start + 100, bytes));
        Assert.Equal(bytes.Length, cache.Read(Start + 100, bytes));

        Assert.Equal(memory.BytesAt(Start + 100, bytes.Length), bytes);
        Assert.Equal(2, memory.Reads);
    }

    [Fact]
    public void Past_its_limit_the_cache_drops_its_pages_and_reads_them_again()
    {
        var memory = new Memory(pages: PageCache.MaxPages + 1);
        var cache = new PageCache(memory.Read);
        var word = new byte[8];

        for (var page = 0; page <= PageCache.MaxPages; page++)
        {
            cache.Read(Start + (ulong)(page * Page), word);
        }

        cache.Read(Start, word);

        Assert.Equal(PageCache.MaxPages + 2, memory.Reads);
        Assert.Equal(memory.BytesAt(Start, 8), word);
    }

    /// <summary>Readable memory from <see cref="Start"/> for a number of pages; nothing else is readable.</summary>
    private sealed class Memory(int pages)
    {
        private readonly byte[] _bytes = Enumerable.Range(0, pages * Page).Select(i => (byte)(i * 7 + i / 251)).ToArray();

        public int Reads { get; private set; }

        public byte[] BytesAt(ulong address, int length) => _bytes.AsSpan((int)(address - Start), length).ToArray();

        public int Read(ulong address, Span<byte> buffer)
        {
            Reads++;
            if (address < Start || address >= Start + (ulong)_bytes.Length)
            {
                return 0;
            }

            var available = _bytes.AsSpan((int)(address - Start));
            var length = Math.Min(available.Length, buffer.Length);
            available[..length].CopyTo(buffer);
            return length;
        }
    }
}
