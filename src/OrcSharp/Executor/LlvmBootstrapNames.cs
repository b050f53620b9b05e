namespace OrcSharp.Executor;

/// <summary>
/// The bootstrap symbols of LLVM 19's executor (llvm-jitlink-executor, SimpleRemoteEPCServer), by the names
/// LLVM's controller looks up. OrcSharp's executor announces these beside its own
/// (<see cref="BootstrapNames"/>), with LLVM's SPS signatures (given per name); the OrcSharp controller
/// falls back to them when an executor announces nothing else.
/// </summary>
public static class LlvmBootstrapNames
{
    /// <summary>Context pointer for <see cref="DispatchFunction"/> (JIT'd code calling the controller).</summary>
    public const string DispatchContext = "__llvm_orc_SimpleRemoteEPC_dispatch_ctx";
    /// <summary>CWrapperFunctionResult (void *ctx, void *tag, const char *data, size_t size): a call from JIT'd
    /// code to the controller's handler for tag; blocks until the controller answers.</summary>
    public const string DispatchFunction = "__llvm_orc_SimpleRemoteEPC_dispatch_fn";

    public const string DylibManagerInstance = "__llvm_orc_SimpleExecutorDylibManager_Instance";
    /// <summary>SPSExpected&lt;addr&gt;(addr instance, string path, u64 mode); an empty path is the process.</summary>
    public const string DylibManagerOpen = "__llvm_orc_SimpleExecutorDylibManager_open_wrapper";
    /// <summary>SPSExpected&lt;seq&lt;(addr, (u8 flags, u8 target flags))&gt;&gt;(addr instance, addr handle,
    /// seq&lt;(string name, bool required)&gt;).</summary>
    public const string DylibManagerLookup = "__llvm_orc_SimpleExecutorDylibManager_lookup_wrapper";

    public const string MemoryManagerInstance = "__llvm_orc_SimpleExecutorMemoryManager_Instance";
    /// <summary>SPSExpected&lt;addr&gt;(addr instance, u64 size).</summary>
    public const string MemoryManagerReserve = "__llvm_orc_SimpleExecutorMemoryManager_reserve_wrapper";
    /// <summary>SPSError(addr instance, (seq&lt;(u8 RWX|finalize bits, addr, u64 size, bytes)&gt;,
    /// seq&lt;((addr, bytes) finalize, (addr, bytes) dealloc)&gt;)).</summary>
    public const string MemoryManagerFinalize = "__llvm_orc_SimpleExecutorMemoryManager_finalize_wrapper";
    /// <summary>SPSError(addr instance, seq&lt;addr&gt; bases).</summary>
    public const string MemoryManagerDeallocate = "__llvm_orc_SimpleExecutorMemoryManager_deallocate_wrapper";

    /// <summary>void(seq&lt;(addr, uN)&gt;) for N = 8, 16, 32, 64; void(seq&lt;(addr, bytes)&gt;) for buffers.</summary>
    public const string WriteUInt8s = "__llvm_orc_bootstrap_mem_write_uint8s_wrapper";
    public const string WriteUInt16s = "__llvm_orc_bootstrap_mem_write_uint16s_wrapper";
    public const string WriteUInt32s = "__llvm_orc_bootstrap_mem_write_uint32s_wrapper";
    public const string WriteUInt64s = "__llvm_orc_bootstrap_mem_write_uint64s_wrapper";
    public const string WriteBuffers = "__llvm_orc_bootstrap_mem_write_buffers_wrapper";

    /// <summary>SPSError((addr start, addr end)): an .eh_frame section with the system unwinder.</summary>
    public const string RegisterEhFrame = "llvm_orc_registerEHFrameSectionWrapper";
    public const string DeregisterEhFrame = "llvm_orc_deregisterEHFrameSectionWrapper";

    /// <summary>i64(addr main, seq&lt;string&gt; argv): main(argc, argv) returns; the executor keeps serving.</summary>
    public const string RunAsMain = "__llvm_orc_bootstrap_run_as_main_wrapper";
    /// <summary>i32(addr fn): int fn(void).</summary>
    public const string RunAsVoidFunction = "__llvm_orc_bootstrap_run_as_void_function_wrapper";
    /// <summary>i32(addr fn, i32 arg): int fn(int).</summary>
    public const string RunAsIntFunction = "__llvm_orc_bootstrap_run_as_int_function_wrapper";

    /// <summary>SPSError((addr start, addr end) debug object, bool notify): an in-memory object for the GDB
    /// JIT interface. LLVM 19's controller finds it by looking it up in the process (open with an empty path).</summary>
    public const string RegisterJitLoaderGdb = "llvm_orc_registerJITLoaderGDBWrapper";
}
