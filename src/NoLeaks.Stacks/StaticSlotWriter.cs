using Microsoft.Diagnostics.Runtime;

namespace NoLeaks.Stacks;

/// <summary>
/// Writes where each static reference field of a running process lives, for the labels of retention paths ("static
/// Registry.Pending"): one line <c>slot&#9;&lt;address, hex&gt;&#9;static Type.Field</c> per field and one line
/// <c>module&#9;&lt;file name&gt;</c> after each module read whole, flushed module by module, so that what was read
/// before a hang or a crash still reaches the parent. The slot (the field's storage) does not move; the parent reads
/// what it holds itself, at the moment it searches. Read here, in a process of its own, because reading a module's
/// type map while the process loads types can make the runtime's data access library loop (docs/heap.md): a loop here
/// ends with this process, never in the test process.
/// </summary>
internal static class StaticSlotWriter
{
    /// <param name="output">Where the lines go.</param>
    /// <param name="runtime">The runtime of the process read (it runs on).</param>
    /// <param name="first">File names of the modules read first (the leaks' own).</param>
    /// <param name="onlyFirst">True: only those modules.</param>
    /// <param name="bound">How long modules are read for (checked between modules).</param>
    public static void Write(TextWriter output, ClrRuntime runtime, IReadOnlySet<string> first, bool onlyFirst, TimeSpan bound)
    {
        var watch = System.Diagnostics.Stopwatch.StartNew();
        foreach (var domain in runtime.AppDomains)
        {
            var modules = domain.Modules
                .Select(module => (Module: module, First: first.Contains(Path.GetFileName(module.Name ?? ""))))
                .Where(entry => entry.First || !onlyFirst)
                .OrderBy(entry => entry.First ? 0 : 1)
                .Select(entry => entry.Module)
                .ToList();
            foreach (var module in modules)
            {
                if (watch.Elapsed >= bound)
                {
                    return;
                }

                try
                {
                    WriteModule(output, runtime, domain, module);
                    output.WriteLine($"module\t{Path.GetFileName(module.Name ?? "")}");
                }
                catch (Exception)
                {
                    // A module whose map could not be read (a torn map while types load): no labels from it.
                }

                output.Flush();
            }
        }
    }

    private static void WriteModule(TextWriter output, ClrRuntime runtime, ClrAppDomain domain, ClrModule module)
    {
        foreach (var (slot, label) in Slots(runtime, domain, module))
        {
            output.WriteLine($"slot\t{slot:x}\t{label}");
        }
    }

    /// <summary>Where each static reference field of <paramref name="module"/>'s types lives, and its label.</summary>
    internal static IEnumerable<(ulong Slot, string Label)> Slots(ClrRuntime runtime, ClrAppDomain domain, ClrModule module)
    {
#if CLRMD3
        var typesWithStaticFields = module.EnumerateTypeDefToMethodTableMap()
            .Select(entry => runtime.GetTypeByMethodTable(entry.MethodTable))
            .OfType<ClrType>()
            .Where(type => type.StaticFields.Length > 0);
#else
        _ = runtime;
        var typesWithStaticFields = module.EnumerateTypesWithStaticFields();
#endif
        foreach (var type in typesWithStaticFields)
        {
            foreach (var field in type.StaticFields)
            {
                if (!field.IsObjectReference)
                {
                    continue;
                }

                ulong slot;
                try
                {
                    slot = field.GetAddress(domain);
                }
                catch (Exception)
                {
                    continue; // storage not allocated yet, or a torn read
                }

                if (slot != 0)
                {
                    yield return (slot, $"static {ShortTypeName(type.Name)}.{field.Name}");
                }
            }
        }
    }

    /// <summary>The type's name without namespace or generic arguments, nested types joined with dots.</summary>
    internal static string ShortTypeName(string? name)
    {
        if (name is null)
        {
            return "?";
        }

        var generic = name.IndexOf('<');
        var head = generic < 0 ? name : name[..generic];
        var dot = head.LastIndexOf('.');
        return (dot < 0 ? name : name[(dot + 1)..]).Replace('+', '.');
    }
}
