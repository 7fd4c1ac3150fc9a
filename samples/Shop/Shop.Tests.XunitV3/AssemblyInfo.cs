using NoLeaks.Xunit;

// Every test of the assembly is checked: a test that leaves async work behind fails with the NoLeaks report.
[assembly: NoTaskLeaks]
