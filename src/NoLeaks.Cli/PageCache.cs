namespace NoLeaks.Cli;

/// <summary>
/// Memory that does not change while it is read (a suspended process's), read a page at a time and each page once: many
/// small reads on a few pages make one read of each page. Reads larger than a page are made directly, and not kept.
/// At most <see cref="MaxPages"/> pages are kept: past that, those kept so far are dropped. Thread-safe.
/// </summary>
internal sealed class PageCache(PageCache.ReadMemory read)
{
    /// <summary>Reads memory at an address into a buffer; returns how many bytes were readable (from the start).</summary>
    public delegate int ReadMemory(ulong address, Span<byte> buffer);

    public const int PageSize = 4096;

    /// <summary>64 MB of pages.</summary>
    public const int MaxPages = 16384;

    private readonly Dictionary<ulong, byte[]> _pages = [];

    /// <summary>Reads as the memory reads: the bytes readable from <paramref name="address"/> on, up to the buffer's length.</summary>
    public int Read(ulong address, Span<byte> buffer)
    {
        if (buffer.Length > PageSize)
        {
            return read(address, buffer);
        }

        var done = 0;
        lock (_pages)
        {
            while (done < buffer.Length)
            {
                var at = address + (ulong)done;
                var start = at & ~(ulong)(PageSize - 1);
                var page = PageAt(start);
                var offset = (int)(at - start);
                if (offset >= page.Length)
                {
                    break;
                }

                var length = Math.Min(page.Length - offset, buffer.Length - done);
                page.AsSpan(offset, length).CopyTo(buffer[done..]);
                done += length;
                if (page.Length < PageSize)
                {
                    break; // the readable memory ends inside this page
                }
            }
        }

        return done;
    }

    /// <summary>The page at <paramref name="start"/>, as much of it as is readable (empty: none).</summary>
    private byte[] PageAt(ulong start)
    {
        if (_pages.TryGetValue(start, out var page))
        {
            return page;
        }

        if (_pages.Count >= MaxPages)
        {
            _pages.Clear();
        }

        var bytes = new byte[PageSize];
        var got = Math.Max(read(start, bytes), 0);
        page = got == PageSize ? bytes : bytes[..got];
        _pages[start] = page;
        return page;
    }

    /// <summary>Drops every page kept.</summary>
    public void Clear()
    {
        lock (_pages)
        {
            _pages.Clear();
        }
    }
}
