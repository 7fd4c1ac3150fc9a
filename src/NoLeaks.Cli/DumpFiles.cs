using System.Buffers.Binary;

namespace NoLeaks.Cli;

/// <summary>What the file itself says about a dump before ClrMD reads it.</summary>
internal static class DumpFiles
{
    /// <summary>
    /// For a 64-bit little-endian ELF core file (createdump, dotnet-dump on Linux) shorter than the segments its program
    /// headers place in it: its length and the length they need. Null for a whole core file or another format.
    /// </summary>
    public static (long Length, long Expected)? TruncatedAt(string path)
    {
        using var file = File.OpenRead(path);
        Span<byte> header = stackalloc byte[64];
        if (file.Read(header) < header.Length || !header[..4].SequenceEqual("\u007fELF"u8) || header[4] != 2 /* 64-bit */ || header[5] != 1 /* little-endian */
            || BinaryPrimitives.ReadUInt16LittleEndian(header[16..]) != 4 /* ET_CORE */)
        {
            return null;
        }

        var tableOffset = (long)BinaryPrimitives.ReadUInt64LittleEndian(header[0x20..]);
        var entrySize = BinaryPrimitives.ReadUInt16LittleEndian(header[0x36..]);
        var entries = BinaryPrimitives.ReadUInt16LittleEndian(header[0x38..]);
        if (entrySize < 56 || entries == 0xFFFF)
        {
            return null; // more headers than the field counts (PN_XNUM): not checked
        }

        var expected = tableOffset + ((long)entrySize * entries);
        if (file.Length < expected)
        {
            return (file.Length, expected);
        }

        var table = new byte[entrySize * entries];
        file.Position = tableOffset;
        file.ReadExactly(table);
        for (var i = 0; i < entries; i++)
        {
            var entry = table.AsSpan(i * entrySize, entrySize);
            var end = (long)BinaryPrimitives.ReadUInt64LittleEndian(entry[8..]) + (long)BinaryPrimitives.ReadUInt64LittleEndian(entry[32..]);
            expected = Math.Max(expected, end);
        }

        return file.Length < expected ? (file.Length, expected) : null;
    }
}
