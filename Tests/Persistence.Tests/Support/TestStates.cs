using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Orleans;
using Orleans.Serialization;
using Orleans.Serialization.Serializers;
using Orleans.Storage;

namespace Analytics.Persistence.Tests;

/// <summary>Lines of text: a few bytes, or as many hundred kilobytes as a test needs.</summary>
[GenerateSerializer]
public sealed class NotesState
{
    [Id(0)]
    public List<string> Lines { get; set; } = [];

    /// <summary>About <paramref name="bytes"/> of JSON in lines of random text, unique per call.</summary>
    public static NotesState Large(int bytes)
    {
        var state = new NotesState();
        for (var size = 0; size < bytes; size += 67)
        {
            state.Lines.Add(Convert.ToHexString(RandomNumberGenerator.GetBytes(32)));
        }

        return state;
    }
}

internal sealed class TestState<T> : IGrainState<T>
    where T : new()
{
    private T _state = new();

    [AllowNull]
    public T State
    {
        get => _state;
        set => _state = value ?? new T();
    }

    public string? ETag { get; set; }

    public bool RecordExists { get; set; }
}

/// <summary>What the direct tests give a provider in place of the silo's services.</summary>
internal static class TestServices
{
    private static readonly ServiceProvider Services = new ServiceCollection().AddSerializer().BuildServiceProvider();

    public static IActivatorProvider Activators { get; } = Services.GetRequiredService<IActivatorProvider>();

    /// <summary>Orleans' System.Text.Json serializer: the app's grains store JSON.</summary>
    public static CountingSerializer Json() =>
        new(new SystemTextJsonGrainStorageSerializer(Options.Create(new SystemTextJsonGrainStorageSerializerOptions())));
}

/// <summary>A serializer that counts its calls, to show that a provider goes through the one it is given.</summary>
internal sealed class CountingSerializer(IGrainStorageSerializer inner) : IGrainStorageSerializer
{
    private int _serialized;
    private int _deserialized;

    public int Serialized => Volatile.Read(ref _serialized);

    public int Deserialized => Volatile.Read(ref _deserialized);

    public BinaryData Serialize<T>(T? input)
    {
        Interlocked.Increment(ref _serialized);
        return inner.Serialize(input);
    }

    public T? Deserialize<T>(BinaryData input)
    {
        Interlocked.Increment(ref _deserialized);
        return inner.Deserialize<T>(input);
    }
}
