using System.Reflection;
using Analytics.Runtime.Invocation;
using Analytics.Runtime.Persistence;
using Microsoft.Extensions.DependencyInjection;

namespace Analytics.Runtime.Activation;

/// <summary>What the runtime needs to know about one grain class, computed once.</summary>
internal sealed class GrainClassInfo
{
    private GrainClassInfo(Type grainClass, string grainType, Func<IServiceProvider, ActivationData, object> factory)
    {
        ClassType = grainClass;
        GrainType = grainType;
        Factory = factory;
        IsReentrant = grainClass.GetCustomAttribute<ReentrantAttribute>() is not null;
        CollectionAge = grainClass.GetCustomAttribute<CollectionAgeLimitAttribute>()?.Age;
    }

    public Type ClassType { get; }

    public string GrainType { get; }

    public bool IsReentrant { get; }

    public TimeSpan? CollectionAge { get; }

    public Func<IServiceProvider, ActivationData, object> Factory { get; }

    public static GrainClassInfo Create(Type grainClass)
    {
        var constructors = grainClass.GetConstructors(BindingFlags.Public | BindingFlags.Instance);
        if (constructors.Length != 1)
        {
            throw new InvalidOperationException($"Grain class {grainClass.FullName} must have exactly one public constructor.");
        }

        var constructor = constructors[0];
        var parameters = constructor.GetParameters();
        var resolvers = new Func<IServiceProvider, ActivationData, object?>[parameters.Length];
        for (var i = 0; i < parameters.Length; i++)
        {
            resolvers[i] = CreateResolver(grainClass, parameters[i]);
        }

        // Activation happens once per grain lifetime, so plain reflection is fast enough here.
        object Factory(IServiceProvider services, ActivationData activation)
        {
            var arguments = new object?[resolvers.Length];
            for (var i = 0; i < resolvers.Length; i++)
            {
                arguments[i] = resolvers[i](services, activation);
            }

            try
            {
                return constructor.Invoke(arguments);
            }
            catch (TargetInvocationException exception) when (exception.InnerException is not null)
            {
                throw exception.InnerException;
            }
        }

        return new GrainClassInfo(grainClass, GrainTypeNames.ForClass(grainClass), Factory);
    }

    private static Func<IServiceProvider, ActivationData, object?> CreateResolver(Type grainClass, ParameterInfo parameter)
    {
        if (parameter.GetCustomAttribute<PersistentStateAttribute>() is { } stateAttribute)
        {
            var type = parameter.ParameterType;
            if (!type.IsGenericType || type.GetGenericTypeDefinition() != typeof(IPersistentState<>))
            {
                throw new InvalidOperationException($"[PersistentState] on {grainClass.Name}({parameter.Name}) must be on a parameter of type IPersistentState<T>.");
            }

            var stateType = type.GetGenericArguments()[0];
            var create = typeof(PersistentStateFactory).GetMethod(nameof(PersistentStateFactory.Create))!.MakeGenericMethod(stateType);
            return (services, activation) =>
            {
                object state;
                try
                {
                    state = create.Invoke(null, [services, activation, stateAttribute])!;
                }
                catch (TargetInvocationException exception) when (exception.InnerException is not null)
                {
                    throw exception.InnerException;
                }

                activation.LifecycleParticipants.Add((IActivationLifecycleParticipant)state);
                return state;
            };
        }

        var parameterType = parameter.ParameterType;
        return (services, _) => services.GetService(parameterType) ?? (parameter.HasDefaultValue
            ? parameter.DefaultValue
            : ActivatorUtilities.CreateInstance(services, parameterType));
    }
}
