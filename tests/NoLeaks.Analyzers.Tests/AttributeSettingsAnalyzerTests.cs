using System.Collections.Immutable;
using System.Runtime.CompilerServices;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Diagnostics;

namespace NoLeaks.Analyzers.Tests;

// Each source is compiled against the real adapters (NoLeaks.XunitV3, NoLeaks.NUnit); a line marked /*@*/ is
// where a diagnostic is expected.
public sealed class AttributeSettingsAnalyzerTests
{
    private const int Timeout = 60_000;

    private static readonly Lazy<MetadataReference[]> References = new(() =>
        ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator)
            .Where(path => path.EndsWith(".dll", StringComparison.Ordinal))
            .Select(path => (MetadataReference)MetadataReference.CreateFromFile(path))
            .ToArray());

    [Fact(Timeout = Timeout)]
    public async Task Valid_settings_give_no_diagnostic()
    {
        var diagnostics = await AnalyzeAsync("""
            using NoLeaks;
            using NoLeaks.Xunit;
            [assembly: NoTaskLeaks(GracePeriodMilliseconds = 60_000, IgnoreAsyncMethods = new[] { "Shop.*" })]
            [NoTaskLeaks(GracePeriodMilliseconds = 0, Action = LeakAction.Warn)]
            public class Tests
            {
                [NoTaskLeaks(GracePeriodMilliseconds = -1, IgnoreAsyncMethods = ["Shop.Queue.PumpAsync"])]
                public void A() { }

                [AllowTaskLeaks("the cache lives for the whole run")]
                public void B() { }
            }
            """);

        Assert.Empty(diagnostics);
    }

    [Fact(Timeout = Timeout)]
    public async Task Empty_pattern_is_reported_at_its_argument_on_every_level()
    {
        var diagnostics = await AnalyzeAsync("""
            using NoLeaks.Xunit;
            [assembly: NoTaskLeaks(IgnoreAsyncMethods = new[] { "" })] /*@*/
            [NoTaskLeaks(IgnoreAsyncMethods = new[] { "Shop.*", "  " })] /*@*/
            public class Tests
            {
                [NoTaskLeaks(GracePeriodMilliseconds = 5, IgnoreAsyncMethods = [null!])] /*@*/
                public void A() { }
            }
            """);

        AssertAtMarkedLines("NOLEAKS001", diagnostics);
        Assert.All(diagnostics, d => Assert.StartsWith("IgnoreAsyncMethods", Text(d)));
    }

    [Fact(Timeout = Timeout)]
    public async Task Opt_out_without_a_reason_is_reported()
    {
        var diagnostics = await AnalyzeAsync("""
            using NoLeaks.Xunit;
            [AllowTaskLeaks("")] /*@*/
            public class Tests
            {
                [AllowTaskLeaks("   ")] /*@*/
                public void A() { }

                [AllowTaskLeaks(null!)] /*@*/
                public void B() { }
            }
            """);

        AssertAtMarkedLines("NOLEAKS002", diagnostics);
    }

    [Fact(Timeout = Timeout)]
    public async Task Negative_grace_period_is_reported_and_the_default_minus_one_is_not()
    {
        var diagnostics = await AnalyzeAsync("""
            using NoLeaks.Xunit;
            public class Tests
            {
                [NoTaskLeaks(GracePeriodMilliseconds = -5)] /*@*/
                public void A() { }

                [NoTaskLeaks(GracePeriodMilliseconds = int.MinValue)] /*@*/
                public void B() { }

                [NoTaskLeaks(GracePeriodMilliseconds = -1)]
                public void C() { }
            }
            """);

        AssertAtMarkedLines("NOLEAKS003", diagnostics);
        Assert.Contains("GracePeriodMilliseconds = -5 is negative", Text(diagnostics[0]));
    }

    [Fact(Timeout = Timeout)]
    public async Task Grace_period_beyond_60_s_is_reported()
    {
        var diagnostics = await AnalyzeAsync("""
            using NoLeaks.Xunit;
            public class Tests
            {
                [NoTaskLeaks(GracePeriodMilliseconds = 60_001)] /*@*/
                public void A() { }

                [NoTaskLeaks(GracePeriodMilliseconds = int.MaxValue)] /*@*/
                public void B() { }

                [NoTaskLeaks(GracePeriodMilliseconds = 60_000)]
                public void C() { }
            }
            """);

        AssertAtMarkedLines("NOLEAKS004", diagnostics);
    }

    [Fact(Timeout = Timeout)]
    public async Task NUnit_attributes_are_checked_the_same_way()
    {
        var diagnostics = await AnalyzeAsync("""
            using NoLeaks.NUnit;
            [assembly: NoTaskLeaks(GracePeriodMilliseconds = -2)] /*@*/
            [NoTaskLeaks(IgnoreAsyncMethods = new[] { "" })] /*@*/
            public class Tests
            {
                [AllowTaskLeaks(" ")] /*@*/
                public void A() { }

                [NoTaskLeaks(GracePeriodMilliseconds = 100_000)] /*@*/
                public void B() { }
            }
            """);

        Assert.Equal(["NOLEAKS001", "NOLEAKS002", "NOLEAKS003", "NOLEAKS004"], diagnostics.Select(d => d.Id).Order());
        Assert.Equal(MarkedLines(diagnostics), diagnostics.Select(Line).Order());
    }

    [Fact(Timeout = Timeout)]
    public async Task Xunit_v2_assembly_with_two_test_frameworks_is_reported_at_the_project_s_own()
    {
        var diagnostics = await AnalyzeAsync("""
            [assembly: Xunit.TestFramework("Shop.Tests.OwnFramework", "Shop.Tests")] /*@*/
            [assembly: NoLeaks.Xunit.Sdk.UseLeakCheckingTestFramework]
            """, XunitV2Types);

        var diagnostic = AssertAtMarkedLines("NOLEAKS005", diagnostics).Single();
        Assert.Contains("its own test framework (Shop.Tests.OwnFramework)", Text(diagnostic));
        Assert.Contains("<NoLeaksXunitTestFramework>false</NoLeaksXunitTestFramework>", Text(diagnostic));
    }

    [Theory(Timeout = Timeout)]
    [InlineData("""[assembly: Xunit.TestFramework("Shop.Tests.OwnFramework", "Shop.Tests")]""")]
    [InlineData("[assembly: NoLeaks.Xunit.Sdk.UseLeakCheckingTestFramework]")]
    public async Task Xunit_v2_assembly_with_one_test_framework_is_not_reported(string attribute)
    {
        Assert.Empty(await AnalyzeAsync(attribute, XunitV2Types));
    }

    [Fact]
    public void Analyzer_knows_the_adapters_attribute_names()
    {
        Assert.Equal(
            [typeof(NoLeaks.Xunit.NoTaskLeaksAttribute).FullName, typeof(NoLeaks.NUnit.NoTaskLeaksAttribute).FullName],
            AttributeSettingsAnalyzer.SettingsAttributes);
        Assert.Equal(
            [typeof(NoLeaks.Xunit.AllowTaskLeaksAttribute).FullName, typeof(NoLeaks.NUnit.AllowTaskLeaksAttribute).FullName],
            AttributeSettingsAnalyzer.OptOutAttributes);
        Assert.Equal(AttributeSettingsAnalyzer.MaxGracePeriodMilliseconds, NoLeaksOptions.MaxGracePeriod.TotalMilliseconds);

        // The xunit v2 adapter cannot be loaded next to xunit v3: its attribute's name is read from its source.
        var source = CSharpSyntaxTree.ParseText(
            File.ReadAllText(RepositoryFile("src/NoLeaks.Xunit/Sdk/UseLeakCheckingTestFrameworkAttribute.cs")), cancellationToken: TestContext.Current.CancellationToken);
        var type = source.GetRoot(TestContext.Current.CancellationToken).DescendantNodes().OfType<ClassDeclarationSyntax>().Single(c => c.Parent is BaseNamespaceDeclarationSyntax or CompilationUnitSyntax);
        var space = source.GetRoot(TestContext.Current.CancellationToken).DescendantNodes().OfType<FileScopedNamespaceDeclarationSyntax>().Single();
        Assert.Equal(AttributeSettingsAnalyzer.LeakCheckingTestFrameworkName, $"{space.Name}.{type.Identifier.ValueText}");
    }

    // xunit v2's test framework attribute and NoLeaks' (xunit v2 cannot be referenced next to xunit v3).
    private const string XunitV2Types = """
        namespace Xunit.Sdk { public interface ITestFrameworkAttribute { } }
        namespace Xunit
        {
            [System.AttributeUsage(System.AttributeTargets.Assembly)]
            public sealed class TestFrameworkAttribute(string typeName, string assemblyName) : System.Attribute, Sdk.ITestFrameworkAttribute { }
        }
        namespace NoLeaks.Xunit.Sdk
        {
            [System.AttributeUsage(System.AttributeTargets.Assembly)]
            public sealed class UseLeakCheckingTestFrameworkAttribute : System.Attribute, global::Xunit.Sdk.ITestFrameworkAttribute { }
        }

        """;

    private static async Task<ImmutableArray<Diagnostic>> AnalyzeAsync(string source, string? types = null)
    {
        var options = new CSharpParseOptions(LanguageVersion.Latest);
        SyntaxTree[] trees = types is null
            ? [CSharpSyntaxTree.ParseText(source, options, path: "Tests.cs")]
            : [CSharpSyntaxTree.ParseText(source, options, path: "Tests.cs"), CSharpSyntaxTree.ParseText(types, options, path: "Types.cs")];
        var compilation = CSharpCompilation.Create(
            "Tests",
            trees,
            References.Value,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable));
        var errors = compilation.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error).ToList();
        Assert.True(errors.Count == 0, string.Join("\n", errors));
        var diagnostics = await compilation.WithAnalyzers([new AttributeSettingsAnalyzer()])
            .GetAnalyzerDiagnosticsAsync(TestContext.Current.CancellationToken);
        return [.. diagnostics.OrderBy(Line)];
    }

    private static IReadOnlyList<Diagnostic> AssertAtMarkedLines(string id, ImmutableArray<Diagnostic> diagnostics)
    {
        Assert.All(diagnostics, d => Assert.Equal(id, d.Id));
        Assert.Equal(MarkedLines(diagnostics), diagnostics.Select(Line));
        return diagnostics;
    }

    private static IEnumerable<int> MarkedLines(ImmutableArray<Diagnostic> diagnostics)
    {
        var tree = diagnostics.Select(d => d.Location.SourceTree).FirstOrDefault(t => t is not null);
        return tree is null
            ? []
            : tree.GetText().Lines.Where(line => line.ToString().Contains("/*@*/", StringComparison.Ordinal)).Select(line => line.LineNumber + 1);
    }

    private static int Line(Diagnostic diagnostic) => diagnostic.Location.GetLineSpan().StartLinePosition.Line + 1;

    private static string Text(Diagnostic diagnostic) => diagnostic.GetMessage(System.Globalization.CultureInfo.InvariantCulture);

    private static string RepositoryFile(string relative, [CallerFilePath] string here = "") =>
        Path.GetFullPath(Path.Combine(Path.GetDirectoryName(here)!, "..", "..", relative));
}
