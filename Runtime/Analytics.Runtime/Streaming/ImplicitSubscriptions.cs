using System.Reflection;
using Analytics.Runtime.Activation;
using Microsoft.Extensions.DependencyInjection;

namespace Analytics.Runtime.Streaming;

/// <summary>One grain class's implicit subscription to a namespace.</summary>
internal sealed record ImplicitSubscription(string GrainType, IStreamKeyMapper? KeyMapper, IStreamItemCombiner? Combiner, int Order);

/// <summary>Which grain classes consume which stream namespaces, read from their attributes.</summary>
internal sealed class ImplicitSubscriptions
{
    private readonly Dictionary<string, List<ImplicitSubscription>> _byNamespace = new(StringComparer.Ordinal);

    public ImplicitSubscriptions(GrainClassRegistry classes, IServiceProvider services)
    {
        foreach (var grainType in classes.GrainTypes)
        {
            var grainClass = classes.FindClass(grainType)!;
            foreach (var attribute in grainClass.GetCustomAttributes<ImplicitStreamSubscriptionAttribute>())
            {
                if (!typeof(IStreamConsumer).IsAssignableFrom(grainClass))
                {
                    throw new InvalidOperationException($"Grain class {grainClass.Name} has [ImplicitStreamSubscription(\"{attribute.Namespace}\")] but does not implement IStreamConsumer.");
                }

                var mapper = attribute.KeyMapper is null ? null : (IStreamKeyMapper)ActivatorUtilities.CreateInstance(services, attribute.KeyMapper);
                var combiner = attribute.Combiner is null ? null : (IStreamItemCombiner)ActivatorUtilities.CreateInstance(services, attribute.Combiner);
                if (!_byNamespace.TryGetValue(attribute.Namespace, out var list))
                {
                    _byNamespace[attribute.Namespace] = list = [];
                }

                list.Add(new ImplicitSubscription(grainType, mapper, combiner, attribute.Order));
            }
        }
    }

    public IReadOnlyList<ImplicitSubscription> For(string streamNamespace) =>
        _byNamespace.TryGetValue(streamNamespace, out var list) ? list : [];

    /// <summary>The distinct subscription orders, ascending.</summary>
    public IReadOnlyList<int> Orders => _byNamespace.Values.SelectMany(l => l).Select(s => s.Order).Distinct().Order().ToList();
}
