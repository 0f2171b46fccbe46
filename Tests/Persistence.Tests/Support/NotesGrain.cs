using Orleans;
using Orleans.Runtime;

namespace Analytics.Persistence.Tests;

public interface INotesGrain : IGrainWithStringKey
{
    Task Append(string line);

    Task<List<string>> Lines();

    Task<string?> ETag();

    Task<bool> RecordExists();

    Task Clear();
}

/// <summary>A grain on the provider named "analytics", as the app's grains are.</summary>
public sealed class NotesGrain([PersistentState("notes", "analytics")] IPersistentState<NotesState> state) : Grain, INotesGrain
{
    public async Task Append(string line)
    {
        state.State.Lines.Add(line);
        await state.WriteStateAsync();
    }

    public Task<List<string>> Lines() => Task.FromResult(state.State.Lines.ToList());

    public Task<string?> ETag() => Task.FromResult(state.Etag);

    public Task<bool> RecordExists() => Task.FromResult(state.RecordExists);

    public Task Clear() => state.ClearStateAsync();
}
