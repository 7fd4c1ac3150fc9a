using NoLeaks.Heap;

namespace NoLeaks.Heap.Tests;

/// <summary>
/// The generic arguments of another process's types, from the names ClrMD gives them (the noleaks command reads them
/// so; tests/NoLeaks.Cli.Tests reads real processes).
/// </summary>
public sealed class TargetTypesTests
{
    [Theory]
    [InlineData("System.Threading.Tasks.Task<System.Int32>", "System.Int32")]
    [InlineData("System.Collections.Generic.Dictionary<System.String, System.Int32>", "System.String|System.Int32")]
    [InlineData(
        "System.Runtime.CompilerServices.AsyncTaskMethodBuilder<System.Threading.Tasks.VoidTaskResult>+AsyncStateMachineBox<Shop.Program+<Main>d__0>",
        "System.Threading.Tasks.VoidTaskResult|Shop.Program+<Main>d__0")]
    [InlineData("Shop.Program+<<Main>$>d__0", "")]
    [InlineData("Shop.Worker+<RunAsync>d__3<System.Int32>", "System.Int32")]
    [InlineData("System.Threading.Tasks.Task<System.Collections.Generic.List<System.Int32>>", "System.Collections.Generic.List<System.Int32>")]
    public void Generic_argument_names_are_read_across_nesting_and_compiler_generated_names(string name, string expected)
    {
        var arguments = OtherProcessTypes.GenericArgumentNames(name);

        Assert.Equal(expected, string.Join('|', arguments!));
    }

    [Fact]
    public void A_name_whose_brackets_do_not_close_is_not_parsed()
    {
        Assert.Null(OtherProcessTypes.GenericArgumentNames("System.Threading.Tasks.Task<System.Int32"));
        Assert.Null(OtherProcessTypes.GenericArgumentNames("Broken>"));
        Assert.Null(OtherProcessTypes.DefinitionName("System.Threading.Tasks.Task<System.Int32"));
    }

    [Theory]
    [InlineData("System.Threading.Tasks.Task<System.Int32>", "System.Threading.Tasks.Task`1")]
    [InlineData("System.Collections.Generic.Dictionary<System.String, System.Collections.Generic.List<System.Int32>>", "System.Collections.Generic.Dictionary`2")]
    [InlineData(
        "System.Runtime.CompilerServices.AsyncTaskMethodBuilder<System.Threading.Tasks.VoidTaskResult>+AsyncStateMachineBox<Shop.Program+<Main>d__0>",
        "System.Runtime.CompilerServices.AsyncTaskMethodBuilder`1+AsyncStateMachineBox`1")]
    [InlineData("Shop.Worker+<RunAsync>d__3<System.Int32>", "Shop.Worker+<RunAsync>d__3`1")]
    public void An_instantiation_is_named_by_its_definition_as_reflection_names_it(string name, string expected)
    {
        Assert.Equal(expected, OtherProcessTypes.DefinitionName(name));
    }

    [Theory]
    [InlineData("Shop.Program+<<Main>$>d__0")]
    [InlineData("Shop.Program+<Main>d__0")]
    [InlineData("System.Int32")]
    public void A_name_without_arguments_has_no_definition_name(string name)
    {
        Assert.Null(OtherProcessTypes.DefinitionName(name));
    }
}
