using System.Collections.Immutable;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Diagnostics;

namespace NoLeaks.Analyzers;

/// <summary>
/// Reports, where the attribute is written, settings of <c>[NoTaskLeaks]</c> and <c>[AllowTaskLeaks]</c> that NoLeaks
/// would otherwise only warn about when the tests run, and an xunit v2 assembly that selects two test frameworks.
/// </summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class AttributeSettingsAnalyzer : DiagnosticAnalyzer
{
    /// <summary>The attribute types checked, by metadata name (the xunit v2 and v3 adapters share the first two).</summary>
    internal static readonly string[] SettingsAttributes = ["NoLeaks.Xunit.NoTaskLeaksAttribute", "NoLeaks.NUnit.NoTaskLeaksAttribute"];

    internal static readonly string[] OptOutAttributes = ["NoLeaks.Xunit.AllowTaskLeaksAttribute", "NoLeaks.NUnit.AllowTaskLeaksAttribute"];

    internal const string LeakCheckingTestFrameworkName = "NoLeaks.Xunit.Sdk.UseLeakCheckingTestFrameworkAttribute";

    internal const string XunitV2TestFrameworkInterfaceName = "Xunit.Sdk.ITestFrameworkAttribute";

    /// <summary>The longest grace period, in milliseconds (NoLeaksOptions.MaxGracePeriod).</summary>
    internal const int MaxGracePeriodMilliseconds = 60_000;

    internal static readonly DiagnosticDescriptor EmptyPattern = new(
        "NOLEAKS001",
        "Empty IgnoreAsyncMethods pattern",
        "IgnoreAsyncMethods holds an empty pattern, which matches nothing: remove it or name a method (Namespace.Type.Method, * as wildcard)",
        "NoLeaks",
        DiagnosticSeverity.Warning,
        isEnabledByDefault: true);

    internal static readonly DiagnosticDescriptor OptOutWithoutReason = new(
        "NOLEAKS002",
        "AllowTaskLeaks without a reason",
        "[AllowTaskLeaks] needs a reason: say why this work may outlive the test",
        "NoLeaks",
        DiagnosticSeverity.Warning,
        isEnabledByDefault: true);

    internal static readonly DiagnosticDescriptor NegativeGracePeriod = new(
        "NOLEAKS003",
        "Negative grace period",
        "GracePeriodMilliseconds = {0} is negative, so the default grace period (1 s) is used: leave it out for the default, or write 0 for none",
        "NoLeaks",
        DiagnosticSeverity.Warning,
        isEnabledByDefault: true);

    internal static readonly DiagnosticDescriptor GracePeriodTooLong = new(
        "NOLEAKS004",
        "Grace period longer than 60 s",
        "GracePeriodMilliseconds = {0} is longer than the longest grace period (60000 ms), so 60 s is used",
        "NoLeaks",
        DiagnosticSeverity.Warning,
        isEnabledByDefault: true);

    internal static readonly DiagnosticDescriptor TwoTestFrameworks = new(
        "NOLEAKS005",
        "Two xunit test frameworks",
        "The assembly selects its own test framework ({0}) and NoLeaks' LeakCheckingTestFramework, and xunit v2 runs only one of them: "
            + "derive {0} from NoLeaks.Xunit.Sdk.LeakCheckingTestFramework, or keep it as it is; either way set "
            + "<NoLeaksXunitTestFramework>false</NoLeaksXunitTestFramework> in the project file (without NoLeaks' framework, "
            + "[NoTaskLeaks] checks each test before its class is disposed)",
        "NoLeaks",
        DiagnosticSeverity.Warning,
        isEnabledByDefault: true,
        customTags: WellKnownDiagnosticTags.CompilationEnd);

    /// <inheritdoc/>
    public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics { get; } =
        ImmutableArray.Create(EmptyPattern, OptOutWithoutReason, NegativeGracePeriod, GracePeriodTooLong, TwoTestFrameworks);

    /// <inheritdoc/>
    public override void Initialize(AnalysisContext context)
    {
        context.ConfigureGeneratedCodeAnalysis(GeneratedCodeAnalysisFlags.None);
        context.EnableConcurrentExecution();
        context.RegisterCompilationStartAction(start =>
        {
            var types = KnownTypes.Find(start.Compilation);
            if (types is null)
            {
                return;
            }

            start.RegisterSymbolAction(
                symbolContext => Check(symbolContext.Symbol.GetAttributes(), types, symbolContext.ReportDiagnostic, symbolContext.CancellationToken),
                SymbolKind.NamedType,
                SymbolKind.Method);
            start.RegisterCompilationEndAction(end =>
            {
                var attributes = end.Compilation.Assembly.GetAttributes();
                Check(attributes, types, end.ReportDiagnostic, end.CancellationToken);
                CheckTestFrameworks(attributes, types, end.ReportDiagnostic, end.CancellationToken);
            });
        });
    }

    private static void Check(ImmutableArray<AttributeData> attributes, KnownTypes types, Action<Diagnostic> report, CancellationToken cancellation)
    {
        foreach (var attribute in attributes)
        {
            if (types.IsSettings(attribute.AttributeClass))
            {
                CheckSettings(attribute, report, cancellation);
            }
            else if (types.IsOptOut(attribute.AttributeClass)
                && attribute.ConstructorArguments.Length == 1
                && string.IsNullOrWhiteSpace(attribute.ConstructorArguments[0].Value as string))
            {
                report(Diagnostic.Create(OptOutWithoutReason, ArgumentLocation(attribute, null, cancellation)));
            }
        }
    }

    private static void CheckSettings(AttributeData attribute, Action<Diagnostic> report, CancellationToken cancellation)
    {
        foreach (var argument in attribute.NamedArguments)
        {
            switch (argument.Key)
            {
                case "IgnoreAsyncMethods" when argument.Value.Kind == TypedConstantKind.Array && !argument.Value.IsNull:
                    foreach (var pattern in argument.Value.Values)
                    {
                        if (string.IsNullOrWhiteSpace(pattern.Value as string))
                        {
                            report(Diagnostic.Create(EmptyPattern, ArgumentLocation(attribute, argument.Key, cancellation)));
                        }
                    }

                    break;

                case "GracePeriodMilliseconds" when argument.Value.Value is int milliseconds:
                    // -1 is the property's own "not set" value: the default grace period, said explicitly.
                    if (milliseconds < -1)
                    {
                        report(Diagnostic.Create(NegativeGracePeriod, ArgumentLocation(attribute, argument.Key, cancellation), milliseconds));
                    }
                    else if (milliseconds > MaxGracePeriodMilliseconds)
                    {
                        report(Diagnostic.Create(GracePeriodTooLong, ArgumentLocation(attribute, argument.Key, cancellation), milliseconds));
                    }

                    break;
            }
        }
    }

    private static void CheckTestFrameworks(ImmutableArray<AttributeData> attributes, KnownTypes types, Action<Diagnostic> report, CancellationToken cancellation)
    {
        if (types.LeakCheckingTestFramework is null || types.TestFrameworkInterface is null
            || !attributes.Any(attribute => SymbolEqualityComparer.Default.Equals(attribute.AttributeClass, types.LeakCheckingTestFramework)))
        {
            return;
        }

        foreach (var attribute in attributes)
        {
            if (attribute.AttributeClass is { } type
                && !SymbolEqualityComparer.Default.Equals(type, types.LeakCheckingTestFramework)
                && type.AllInterfaces.Contains(types.TestFrameworkInterface, SymbolEqualityComparer.Default))
            {
                var name = attribute.ConstructorArguments.FirstOrDefault().Value as string ?? type.Name;
                report(Diagnostic.Create(TwoTestFrameworks, ArgumentLocation(attribute, null, cancellation), name));
            }
        }
    }

    /// <summary>The named argument's place in the attribute, or the attribute's when it has no such argument.</summary>
    private static Location ArgumentLocation(AttributeData attribute, string? name, CancellationToken cancellation)
    {
        if (attribute.ApplicationSyntaxReference?.GetSyntax(cancellation) is not AttributeSyntax syntax)
        {
            return Location.None;
        }

        var argument = syntax.ArgumentList?.Arguments.FirstOrDefault(a => name is null
            ? a.NameEquals is null
            : a.NameEquals?.Name.Identifier.ValueText == name);
        return (argument ?? (SyntaxNode)syntax).GetLocation();
    }

    private sealed class KnownTypes
    {
        private readonly INamedTypeSymbol[] _settings;
        private readonly INamedTypeSymbol[] _optOuts;

        private KnownTypes(Compilation compilation)
        {
            _settings = Resolve(compilation, SettingsAttributes);
            _optOuts = Resolve(compilation, OptOutAttributes);
            LeakCheckingTestFramework = compilation.GetTypeByMetadataName(LeakCheckingTestFrameworkName);
            TestFrameworkInterface = compilation.GetTypeByMetadataName(XunitV2TestFrameworkInterfaceName);
        }

        public INamedTypeSymbol? LeakCheckingTestFramework { get; }

        public INamedTypeSymbol? TestFrameworkInterface { get; }

        /// <summary>The types of a compilation that references a NoLeaks adapter; null when it references none.</summary>
        public static KnownTypes? Find(Compilation compilation)
        {
            var types = new KnownTypes(compilation);
            return types._settings.Length == 0 && types._optOuts.Length == 0 ? null : types;
        }

        public bool IsSettings(INamedTypeSymbol? type) => _settings.Contains(type, SymbolEqualityComparer.Default);

        public bool IsOptOut(INamedTypeSymbol? type) => _optOuts.Contains(type, SymbolEqualityComparer.Default);

        private static INamedTypeSymbol[] Resolve(Compilation compilation, string[] names) =>
            names.Select(compilation.GetTypeByMetadataName).OfType<INamedTypeSymbol>().ToArray();
    }
}
