namespace Analytics.Runtime.Invocation;

/// <summary>The caller's side of a call that could not run at once.</summary>
internal interface IResponseCompletion
{
    Task Task { get; }

    /// <summary>Copies the outcome of the grain method's completed task.</summary>
    void SetFrom(Task completed);

    void SetException(Exception exception);
}

/// <summary>
/// Continuations run asynchronously so that the caller's code never runs inside the callee's turn
/// (it would otherwise inherit the callee's synchronization context).
/// </summary>
internal sealed class ResponseCompletion<T>() : TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously), IResponseCompletion
{
    Task IResponseCompletion.Task => Task;

    public void SetFrom(Task completed)
    {
        if (completed.IsCanceled)
        {
            TrySetCanceled();
        }
        else if (completed.IsFaulted)
        {
            TrySetException(completed.Exception!.InnerExceptions);
        }
        else
        {
            TrySetResult(completed is Task<T> typed ? typed.Result : default!);
        }
    }

    void IResponseCompletion.SetException(Exception exception) => TrySetException(exception);
}
