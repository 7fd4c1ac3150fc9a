using NoLeaks;
using NoLeaks.DependencyInjection;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers NoLeaks' suite settings in a <see cref="NoLeaksServiceConfiguration"/>.</summary>
public static class NoLeaksServiceCollectionExtensions
{
    /// <summary>
    /// Sets the defaults of every checked test (grace period, ignores, action …); several calls apply in order. A
    /// setting made on <c>[NoTaskLeaks]</c> still wins over these.
    /// </summary>
    public static IServiceCollection AddNoLeaks(this IServiceCollection services, Action<NoLeaksOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddSingleton(new NoLeaksOptionsSetup(configure ?? (_ => { })));
        return services;
    }
}
