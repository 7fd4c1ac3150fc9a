using NoLeaks.Analysis;

namespace NoLeaks.Tests.Analysis;

public class TypeNamesTests
{
    [Fact]
    public void Types_are_named_as_in_csharp()
    {
        Assert.Equal("Dictionary<string, List<int>>", TypeNames.Display(typeof(Dictionary<string, List<int>>)));
        Assert.Equal("TypeNamesTests.Nested<bool>", TypeNames.Display(typeof(Nested<bool>)));
        Assert.Equal("int[]", TypeNames.Display(typeof(int[])));
        Assert.Equal("NoLeaks.Tests.Analysis.TypeNamesTests.Nested", TypeNames.Full(typeof(Nested<bool>)));
    }

    [Fact]
    public void Async_methods_lambdas_and_local_functions_are_named_by_what_the_reader_wrote()
    {
        Assert.Equal(("TypeNamesTests.MethodAsync", "NoLeaks.Tests.Analysis.TypeNamesTests.MethodAsync"), TypeNames.AsyncMethod(StateMachineOf(nameof(MethodAsync))));

        Func<Task> lambda = async () => await Task.Yield();
        Assert.Equal("TypeNamesTests.Async_methods_lambdas_and_local_functions_are_named_by_what_the_reader_wrote (lambda)", TypeNames.Delegate(lambda.Method).Display);

        async Task LocalAsync() => await Task.Yield();
        Func<Task> local = LocalAsync;
        Assert.Equal(
            "TypeNamesTests.Async_methods_lambdas_and_local_functions_are_named_by_what_the_reader_wrote.LocalAsync (local function)",
            TypeNames.Delegate(local.Method).Display);
    }

    private static Type StateMachineOf(string method) =>
        typeof(TypeNamesTests).GetNestedTypes(System.Reflection.BindingFlags.NonPublic).Single(t => t.Name.StartsWith($"<{method}>d__", StringComparison.Ordinal));

    private static async Task MethodAsync() => await Task.Yield();

    private sealed class Nested<T>;
}
