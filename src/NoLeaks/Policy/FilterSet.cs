namespace NoLeaks.Policy;

/// <summary>Applies the built-in and the user's filters; a filter that throws is reported, never rethrown.</summary>
internal static class FilterSet
{
    public static (List<TaskLeak> Kept, int Ignored) Apply(List<TaskLeak> leaks, NoLeaksOptions options, ICollection<string> warnings)
    {
        if (leaks.Count == 0)
        {
            return (leaks, 0);
        }

        var filters = options.UseDefaultFilters ? Ignore.Defaults.Concat(options.Ignore ?? []) : options.Ignore ?? [];
        var kept = new List<TaskLeak>(leaks.Count);
        var ignored = 0;
        foreach (var leak in leaks)
        {
            if (filters.Any(filter => Allows(filter, leak, warnings)))
            {
                ignored++;
            }
            else
            {
                kept.Add(leak);
            }
        }

        return (kept, ignored);
    }

    private static bool Allows(LeakFilter? filter, TaskLeak leak, ICollection<string> warnings)
    {
        if (filter is null)
        {
            return false;
        }

        try
        {
            return filter.Matches(leak);
        }
        catch (Exception e)
        {
            var warning = $"the filter {DescriptionOf(filter)} threw {e.GetType().Name} ({e.Message}); it was treated as not matching.";
            if (!warnings.Contains(warning))
            {
                warnings.Add(warning);
            }

            return false;
        }
    }

    private static string DescriptionOf(LeakFilter filter)
    {
        try
        {
            return filter.Description;
        }
        catch (Exception)
        {
            return filter.GetType().Name;
        }
    }
}
