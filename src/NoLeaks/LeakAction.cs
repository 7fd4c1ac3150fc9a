namespace NoLeaks;

/// <summary>What happens when a scope ends with leaked work.</summary>
public enum LeakAction
{
    /// <summary>The test fails with the leak report.</summary>
    Fail,

    /// <summary>The report is written as a warning; the test keeps its result.</summary>
    Warn,

    /// <summary>No check is made.</summary>
    Off,
}
