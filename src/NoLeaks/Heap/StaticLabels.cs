using System.Globalization;
using NoLeaks.Analysis;

namespace NoLeaks.Heap;

/// <summary>
/// Names the objects this process's static fields hold ("static Registry.Pending"), for the retention search's paths.
/// Where each static reference field lives is read by the child process (NoLeaks.Stacks, <c>--statics</c>): reading a
/// module's type map through the runtime's data access library while other threads load types can loop, and a loop in
/// the child ends when the child is killed, while one in this process never ends (docs/heap.md). The slots are
/// remembered for the process (a static's storage does not move); what a slot holds is read here, when the search
/// runs. Without the child (not Linux, tracing refused) nothing is labelled: statics are still searched, through the GC
/// handles the runtime roots them in. Never throws.
/// </summary>
internal sealed class StaticLabels(string? childPath = null, TimeSpan? childTimeout = null)
{
    /// <summary>This process's, with the child beside NoLeaks.dll.</summary>
    public static StaticLabels Shared { get; } = new();

    /// <summary>How long the child reads modules for (checked between modules).</summary>
    internal static readonly TimeSpan ReadBound = TimeSpan.FromSeconds(1);

    /// <summary>How long the child may take in all, its start included, before it is killed (what it wrote is kept).</summary>
    internal static readonly TimeSpan ChildTimeout = TimeSpan.FromSeconds(4);

    private readonly object _sync = new();
    private readonly Dictionary<ulong, string> _slots = [];
    private bool _allModulesRead;

    /// <summary>How many times the child was started.</summary>
    internal int Reads { get; private set; }

    /// <summary>
    /// Makes sure the static slots of <paramref name="modules"/> (the leaks' own, whose types may have loaded since the
    /// last read) are known, and of every other module once per process. Returns why the read failed, or null.
    /// </summary>
    public string? Refresh(IReadOnlyCollection<string> modules)
    {
        lock (_sync)
        {
            if (_allModulesRead && modules.Count == 0)
            {
                return null;
            }

            string[] arguments = ["--statics", ((int)ReadBound.TotalMilliseconds).ToString(CultureInfo.InvariantCulture), _allModulesRead ? "only" : "all", .. modules];
            Reads++;
            var output = ThreadStacks.RunChild(childPath, arguments, childTimeout ?? ChildTimeout, out var failure);
            var completed = Parse(output ?? "", _slots);
            if (!_allModulesRead && failure is null)
            {
                // Read in full, or up to its bound: the modules not reached are not read again (their statics are
                // still searched, unlabelled).
                _allModulesRead = completed > 0;
            }

            return failure;
        }
    }

    /// <summary>Adds the slots of the child's lines to <paramref name="slots"/>; returns how many modules were read whole.</summary>
    internal static int Parse(string output, Dictionary<ulong, string> slots)
    {
        var modules = 0;
        foreach (var line in output.Split('\n'))
        {
            var parts = line.TrimEnd('\r').Split('\t');
            if (parts is ["slot", var hex, var label]
                && ulong.TryParse(hex, NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var slot) && slot != 0)
            {
                slots[slot] = label;
            }
            else if (parts is ["module", _])
            {
                modules++;
            }
        }

        return modules;
    }

    /// <summary>
    /// The objects the known static slots hold now, by address, as labels. Call it where the heap does not move (the
    /// search's no-GC region): a slot is read as a pointer with <paramref name="reader"/>, which fails safely on memory
    /// that is gone (a collectible assembly unloaded).
    /// </summary>
    public Dictionary<ulong, string> Held(Microsoft.Diagnostics.Runtime.IDataReader reader) => HeldBy(reader);

    /// <summary><see cref="Held"/> read with a reader of this process's memory of its own (tests).</summary>
    internal Dictionary<ulong, string> HeldNow() => HeldBy(new InProcessDataReader());

    private Dictionary<ulong, string> HeldBy(Microsoft.Diagnostics.Runtime.IDataReader reader)
    {
        var names = new Dictionary<ulong, string>();
        lock (_sync)
        {
            foreach (var (slot, label) in _slots)
            {
                if (reader.ReadPointer(slot, out var value) && value != 0)
                {
                    names.TryAdd(value, label);
                }
            }
        }

        return names;
    }
}
