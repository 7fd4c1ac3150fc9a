using System.Collections.Concurrent;
using System.Reflection;
using System.Reflection.Metadata;
using System.Reflection.Metadata.Ecma335;
using System.Reflection.PortableExecutable;

namespace NoLeaks.Analysis;

/// <summary>
/// Finds the file and line of the <c>await</c> an async method is suspended at, from the portable PDB.
/// The compiler records, on the state machine's <c>MoveNext</c>, "async method stepping information": a
/// catch-handler offset, then one (yield offset, resume offset, resume method) triple per <c>await</c>, in the order
/// of the state numbers. State N is suspended at the Nth yield offset; the last visible sequence point at or before
/// it is the await's line. PDBs beside the assembly and embedded PDBs are both read.
/// </summary>
internal sealed class AwaitSiteResolver
{
    private static readonly Guid AsyncMethodSteppingInformation = new("54FD2AC5-E925-401A-9C2A-F94F171072F8");

    private readonly ConcurrentDictionary<Assembly, PdbFile?> _pdbs = new();
    private readonly ConcurrentDictionary<MethodBase, MethodSteps?> _methods = new();

    public static AwaitSiteResolver Shared { get; } = new();

    /// <summary>The await site of a state machine type suspended in <paramref name="state"/>.</summary>
    public AwaitSite Resolve(Type stateMachineType, int state)
    {
        var moveNext = stateMachineType.GetMethod(
            "MoveNext", BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic, Type.EmptyTypes);
        var steps = moveNext is null ? null : Steps(moveNext);
        if (steps is null || state < 0 || state >= steps.YieldOffsets.Length)
        {
            return new AwaitSite(null, 0, state);
        }

        return steps.At(steps.YieldOffsets[state], state);
    }

    /// <summary>The first line of a method's body (for delegates that are running, not awaiting).</summary>
    public AwaitSite? FirstLine(MethodBase method)
    {
        var steps = Steps(method);
        return steps is null || steps.Points.Length == 0 ? null : steps.At(0, -1, first: true);
    }

    /// <summary>The source line of an IL offset in a method (for stack frames captured without file information).</summary>
    public AwaitSite? LineAt(MethodBase method, int ilOffset)
    {
        var steps = Steps(method);
        return steps is null || steps.Points.Length == 0 || ilOffset < 0 ? null : steps.At(ilOffset, -1);
    }

    private MethodSteps? Steps(MethodBase method)
    {
        if (method.IsGenericMethod && !method.IsGenericMethodDefinition && method is MethodInfo info)
        {
            method = info.GetGenericMethodDefinition();
        }

        return _methods.GetOrAdd(method, m =>
        {
            try
            {
                var pdb = _pdbs.GetOrAdd(m.Module.Assembly, PdbFile.Open);
                return pdb?.Read(m.MetadataToken);
            }
            catch (Exception)
            {
                // A PDB we cannot read only costs the line number; the report says "no PDB".
                return null;
            }
        });
    }

    private sealed class PdbFile
    {
        private readonly MetadataReaderProvider _provider;
        private readonly object _gate = new();

        private PdbFile(MetadataReaderProvider provider) => _provider = provider;

        public static PdbFile? Open(Assembly assembly)
        {
            try
            {
                var location = assembly.IsDynamic ? "" : assembly.Location;
                if (string.IsNullOrEmpty(location) || !File.Exists(location))
                {
                    return null;
                }

                // An embedded PDB always belongs to its assembly; a PDB file beside it may be stale or a Windows PDB,
                // so it is read only when its id is the one the assembly names.
                using var pe = new PEReader(File.OpenRead(location));
                var entries = pe.ReadDebugDirectory();
                var embedded = entries.FirstOrDefault(entry => entry.Type == DebugDirectoryEntryType.EmbeddedPortablePdb);
                if (embedded.DataSize > 0)
                {
                    return new PdbFile(pe.ReadEmbeddedPortablePdbDebugDirectoryData(embedded));
                }

                var besides = Path.ChangeExtension(location, ".pdb");
                if (!File.Exists(besides))
                {
                    return null;
                }

                var provider = MetadataReaderProvider.FromPortablePdbStream(File.OpenRead(besides));
                try
                {
                    var codeView = entries.FirstOrDefault(entry => entry.Type == DebugDirectoryEntryType.CodeView);
                    if (codeView.DataSize == 0
                        || new BlobContentId(provider.GetMetadataReader().DebugMetadataHeader!.Id).Guid == pe.ReadCodeViewDebugDirectoryData(codeView).Guid)
                    {
                        return new PdbFile(provider);
                    }
                }
                catch (Exception)
                {
                    provider.Dispose();
                    throw;
                }

                provider.Dispose();
                return null;
            }
            catch (Exception)
            {
                // Windows PDBs, truncated files: no line numbers, no failure.
                return null;
            }
        }

        public MethodSteps? Read(int methodToken)
        {
            lock (_gate)
            {
                var reader = _provider.GetMetadataReader();
                var handle = (MethodDefinitionHandle)MetadataTokens.EntityHandle(methodToken);
                var info = reader.GetMethodDebugInformation(handle);
                var points = info.SequencePointsBlob.IsNil
                    ? []
                    : info.GetSequencePoints()
                        .Where(p => !p.IsHidden)
                        .Select(p => (p.Offset, reader.GetString(reader.GetDocument(p.Document).Name), p.StartLine))
                        .ToArray();

                var yields = new List<int>();
                foreach (var cdiHandle in reader.GetCustomDebugInformation(handle))
                {
                    var cdi = reader.GetCustomDebugInformation(cdiHandle);
                    if (reader.GetGuid(cdi.Kind) != AsyncMethodSteppingInformation)
                    {
                        continue;
                    }

                    var blob = reader.GetBlobReader(cdi.Value);
                    blob.ReadUInt32(); // catch handler offset
                    while (blob.RemainingBytes > 0)
                    {
                        yields.Add((int)blob.ReadUInt32());
                        blob.ReadUInt32(); // resume offset
                        blob.ReadCompressedInteger(); // resume method
                    }
                }

                return new MethodSteps(points, [.. yields]);
            }
        }
    }

    private sealed class MethodSteps((int Offset, string File, int Line)[] points, int[] yieldOffsets)
    {
        public (int Offset, string File, int Line)[] Points { get; } = points;

        public int[] YieldOffsets { get; } = yieldOffsets;

        public AwaitSite At(int ilOffset, int state, bool first = false)
        {
            if (Points.Length == 0)
            {
                return new AwaitSite(null, 0, state);
            }

            if (first)
            {
                return new AwaitSite(Points[0].File, Points[0].Line, state);
            }

            // The last visible sequence point at or before the yield: the statement holding the await.
            var best = Points[0];
            foreach (var point in Points)
            {
                if (point.Offset <= ilOffset && point.Offset >= best.Offset)
                {
                    best = point;
                }
            }

            return new AwaitSite(best.File, best.Line, state);
        }
    }
}
