using System.Collections.Immutable;
using System.Runtime.InteropServices;
using Microsoft.Diagnostics.Runtime;

namespace NoLeaks.Heap;

/// <summary>
/// Finds no file. ClrMD asks its file locator for a module's image when a read of that image's memory fails; its
/// default locator is a symbol-server client built on Azure.Core, which the NoLeaks package does not ship, so creating
/// it throws — inside a callback from the runtime's data access layer, where an exception ends the process. In process,
/// every image is mapped: there is nothing to find on disk.
/// </summary>
internal sealed class NoFileLocator : IFileLocator
{
    public static NoFileLocator Instance { get; } = new();

    public string? FindPEImage(string fileName, int buildTimeStamp, int imageSize, bool checkProperties) => null;

    public string? FindPEImage(string fileName, SymbolProperties archivedUnder, ImmutableArray<byte> buildIdOrUUID, OSPlatform originalPlatform, bool checkProperties) => null;

#if CLRMD3
    public string? FindElfImage(string fileName, SymbolProperties archivedUnder, ImmutableArray<byte> buildId, bool checkProperties) => null;

    public string? FindMachOImage(string fileName, SymbolProperties archivedUnder, ImmutableArray<byte> uuid, bool checkProperties) => null;
#endif
}
