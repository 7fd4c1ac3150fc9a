using System.Reflection;
using System.Reflection.Metadata;
using System.Reflection.Metadata.Ecma335;
using System.Reflection.PortableExecutable;
using System.Runtime.Loader;
using Microsoft.Diagnostics.Runtime;

namespace NoLeaks.Heap;

/// <summary>
/// The <see cref="Type"/> behind a method table of the process ClrMD reads, and back: the heap reading names and
/// classifies objects by live types (<c>typeof(Task).IsAssignableFrom</c>, state-machine types for await sites).
/// </summary>
internal abstract class TargetTypes
{
    /// <summary>The type of a method table that ClrMD has validated, or null when it cannot be had.</summary>
    public abstract Type? TypeOf(ClrRuntime runtime, ulong methodTable);

    /// <summary>ClrMD's view of a type in the target, or null when the target has not loaded it (or it cannot be found).</summary>
    public abstract ClrType? ClrTypeOf(ClrRuntime runtime, Type type);
}

/// <summary>This process: a method table is the RuntimeTypeHandle's value.</summary>
internal sealed class OwnProcessTypes : TargetTypes
{
    public static OwnProcessTypes Instance { get; } = new();

    public override Type? TypeOf(ClrRuntime runtime, ulong methodTable)
    {
        try
        {
            return Type.GetTypeFromHandle(RuntimeTypeHandle.FromIntPtr((nint)methodTable));
        }
        catch (Exception)
        {
            return null;
        }
    }

    public override ClrType? ClrTypeOf(ClrRuntime runtime, Type type) => runtime.GetTypeByMethodTable((ulong)type.TypeHandle.Value);
}

#if !CLRMD3
/// <summary>
/// Another process or a dump: a type is found from its module (the assembly file the target loaded) and metadata
/// token, generic instantiations from the argument names ClrMD gives. The target's framework types are this process's
/// own, found by the name the token has in the target's file (the versions may differ: .NET 8 target, .NET 10 tool),
/// so that <c>typeof</c> names them here; a type the target's runtime has and this one has not is not found, and the
/// object is then read as an unknown type (not a task). The application's assemblies are loaded
/// for reflection only, into a collectible load context of their own (no code of theirs is run). Assemblies whose
/// files are not at the path the target loaded them from (a dump from another machine) give no types.
/// </summary>
internal sealed class OtherProcessTypes : TargetTypes, IDisposable
{
    private readonly Dictionary<ulong, Type?> _types = [];
    private readonly Dictionary<Type, ClrType> _clrTypes = [];
    private readonly Dictionary<string, Assembly?> _assemblies = new(StringComparer.Ordinal);
    private readonly ApplicationAssemblies _context;
    private readonly string? _runtimeDirectory;

    public OtherProcessTypes(ClrRuntime runtime)
    {
        _runtimeDirectory = Path.GetDirectoryName(runtime.ClrInfo.ModuleInfo.FileName);
        var paths = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var module in runtime.EnumerateModules())
        {
            if (!string.IsNullOrEmpty(module.Name) && !module.IsDynamic)
            {
                paths.TryAdd(Path.GetFileNameWithoutExtension(module.Name), module.Name);
            }
        }

        _context = new ApplicationAssemblies(paths);
    }

    public override Type? TypeOf(ClrRuntime runtime, ulong methodTable)
    {
        if (_types.TryGetValue(methodTable, out var known))
        {
            return known;
        }

        _types[methodTable] = null; // a type whose arguments lead back to it resolves to nothing, not forever
        var clrType = runtime.GetTypeByMethodTable(methodTable);
        var type = clrType is null ? null : Resolve(runtime, clrType);
        _types[methodTable] = type;
        if (type is not null && clrType is not null)
        {
            _clrTypes.TryAdd(type, clrType);
        }

        return type;
    }

    public override ClrType? ClrTypeOf(ClrRuntime runtime, Type type)
    {
        if (_clrTypes.TryGetValue(type, out var known))
        {
            return known;
        }

        // A type the walk has not met (the runtime's Task, an awaiter struct): by name, in the module of its assembly.
        if (type.IsGenericType || type.FullName is not { } name)
        {
            return null;
        }

        var simpleName = type.Assembly.GetName().Name;
        foreach (var module in runtime.EnumerateModules())
        {
            if (string.Equals(Path.GetFileNameWithoutExtension(module.Name), simpleName, StringComparison.OrdinalIgnoreCase)
                && (LoadedByToken(runtime, module, name) is (true, var byToken) ? byToken : module.GetTypeByName(name) ?? LoadedTypes(runtime, module).GetValueOrDefault(name)) is { } found)
            {
                _clrTypes[type] = found;
                return found;
            }
        }

        return null;
    }

    /// <summary>
    /// A type definition the target has loaded from <paramref name="module"/>, by its full name (<c>Namespace.Outer+Inner</c>):
    /// its token read from the module's file, its method table from the runtime's map of the module's tokens. ClrMD's
    /// GetTypeByName asks the runtime's data access library for the name of every type the module has loaded until one
    /// matches (all of them for a type the target has not loaded: about 30 ms for System.Private.CoreLib, while the
    /// target was suspended). Searched is false when the module's file cannot be read here: then ClrMD is asked by name.
    /// </summary>
    private (bool Searched, ClrType? Type) LoadedByToken(ClrRuntime runtime, ClrModule module, string fullName)
    {
        if (module.IsDynamic || module.Name is not { Length: > 0 } path || TypeTokensOf(path) is not { } tokens)
        {
            return (false, null);
        }

        if (!tokens.TryGetValue(fullName, out var token))
        {
            return (true, null);
        }

        if (!_methodTables.TryGetValue(module.Address, out var methodTables))
        {
            _methodTables[module.Address] = methodTables = [];
            foreach (var (methodTable, typeToken) in module.EnumerateTypeDefToMethodTableMap())
            {
                if (methodTable != 0)
                {
                    methodTables.TryAdd(typeToken, methodTable);
                }
            }
        }

        return (true, methodTables.TryGetValue(token, out var found) ? runtime.GetTypeByMethodTable(found) : null);
    }

    private readonly Dictionary<ulong, Dictionary<int, ulong>> _methodTables = [];

    private readonly Dictionary<string, Dictionary<string, int>?> _typeTokens = new(StringComparer.Ordinal);

    /// <summary>The type definitions of an assembly file the target loaded, by full name (<c>Namespace.Outer+Inner</c>).</summary>
    private Dictionary<string, int>? TypeTokensOf(string path)
    {
        if (_typeTokens.TryGetValue(path, out var known))
        {
            return known;
        }

        Dictionary<string, int>? tokens = null;
        try
        {
            if (FileOf(path) is { HasMetadata: true } file)
            {
                var reader = file.GetMetadataReader();
                tokens = new Dictionary<string, int>(reader.TypeDefinitions.Count, StringComparer.Ordinal);
                foreach (var handle in reader.TypeDefinitions)
                {
                    tokens.TryAdd(NameOf(reader, handle), MetadataTokens.GetToken(handle));
                }
            }
        }
        catch (Exception)
        {
            tokens = null; // not an assembly file this process can read: ClrMD is asked by name
        }

        return _typeTokens[path] = tokens;
    }

    private readonly Dictionary<ulong, Dictionary<string, ClrType>> _loadedTypes = [];

    /// <summary>The types a module has loaded, by ClrMD's name (which GetTypeByName does not find for nested types).</summary>
    private Dictionary<string, ClrType> LoadedTypes(ClrRuntime runtime, ClrModule module)
    {
        if (!_loadedTypes.TryGetValue(module.Address, out var types))
        {
            _loadedTypes[module.Address] = types = new Dictionary<string, ClrType>(StringComparer.Ordinal);
            foreach (var (methodTable, _) in module.EnumerateTypeDefToMethodTableMap())
            {
                if (runtime.GetTypeByMethodTable(methodTable) is { Name: { } name } clrType)
                {
                    types.TryAdd(name, clrType);
                }
            }
        }

        return types;
    }

    private Type? Resolve(ClrRuntime runtime, ClrType clrType)
    {
        try
        {
            if (clrType.IsArray || clrType.IsPointer || clrType.Module is not { Name: { Length: > 0 } path } module || module.IsDynamic
                || AssemblyOf(path) is not { } assembly)
            {
                return null;
            }

            // The framework here may be another version than the target's, with other tokens: its types go by name.
            var type = IsFramework(path)
                ? NameOf(path, clrType.MetadataToken) is { } fullName ? assembly.GetType(fullName) : null
                : assembly.ManifestModule.ResolveType(clrType.MetadataToken);
            if (type is null || !type.IsGenericTypeDefinition)
            {
                return type;
            }

            // ClrMD names an instantiation as C# would, with its arguments' full names ("Task<System.Int32>").
            var arguments = clrType.Name is { } name ? GenericArgumentNames(name) : null;
            if (arguments is null || arguments.Count != type.GetGenericArguments().Length)
            {
                return type;
            }

            var resolved = new Type[arguments.Count];
            for (var i = 0; i < arguments.Count; i++)
            {
                if (TypeNamed(runtime, arguments[i]) is not { } live)
                {
                    return type; // the definition: classified and named without its arguments
                }

                resolved[i] = live;
            }

            return type.MakeGenericType(resolved);
        }
        catch (Exception)
        {
            // A missing dependency, a type this runtime does not have, a constraint that fails: not named.
            return null;
        }
    }

    private readonly Dictionary<string, Type?> _byName = new(StringComparer.Ordinal);

    /// <summary>
    /// A generic argument, by the full name ClrMD gives it: a type definition the target has loaded, found in the first
    /// module that has it; an array or an instantiation built here from its element, or from its definition and arguments.
    /// ClrMD's GetTypeByName would ask the runtime's data access library for the names of a module's types, module after
    /// module, and for an instantiation search its cache of types too (10–15 ms each, while the target was suspended).
    /// </summary>
    private Type? TypeNamed(ClrRuntime runtime, string name)
    {
        if (_byName.TryGetValue(name, out var known))
        {
            return known;
        }

        _byName[name] = null;
        Type? found;
        try
        {
            found = name == "System.__Canon" ? null
                : name.EndsWith("[]", StringComparison.Ordinal) ? TypeNamed(runtime, name[..^2])?.MakeArrayType()
                : DefinitionName(name) is { } definition ? InstantiationNamed(runtime, definition, name)
                : LoadedTypeNamed(runtime, name);
        }
        catch (Exception)
        {
            found = null; // a constraint the arguments do not meet, a type this runtime does not have: not named
        }

        return _byName[name] = found;
    }

    private Type? LoadedTypeNamed(ClrRuntime runtime, string name)
    {
        foreach (var module in runtime.EnumerateModules())
        {
            if ((LoadedByToken(runtime, module, name) is (true, var byToken) ? byToken : module.GetTypeByName(name)) is { } clrType)
            {
                return TypeOf(runtime, clrType.MethodTable);
            }
        }

        return null;
    }

    /// <summary>An instantiation named as ClrMD names it, from its definition's reflection name (<c>Builder`1+Box`1</c>).</summary>
    private Type? InstantiationNamed(ClrRuntime runtime, string definitionName, string name)
    {
        if (GenericDefinitionNamed(runtime, definitionName) is not { } definition
            || GenericArgumentNames(name) is not { } names || names.Count != definition.GetGenericArguments().Length)
        {
            return null;
        }

        var arguments = new Type[names.Count];
        for (var i = 0; i < names.Count; i++)
        {
            if (TypeNamed(runtime, names[i]) is not { } argument)
            {
                return null;
            }

            arguments[i] = argument;
        }

        return definition.MakeGenericType(arguments);
    }

    /// <summary>A generic type definition by its reflection name, from the files of the target's modules.</summary>
    private Type? GenericDefinitionNamed(ClrRuntime runtime, string name)
    {
        foreach (var module in runtime.EnumerateModules())
        {
            if (!module.IsDynamic && module.Name is { Length: > 0 } path && TypeTokensOf(path) is { } tokens
                && tokens.TryGetValue(name, out var token) && AssemblyOf(path) is { } assembly)
            {
                // The framework here may be another build than the target's, with other tokens: its types go by name.
                var type = IsFramework(path) ? assembly.GetType(name) : assembly.ManifestModule.ResolveType(token);
                return type is { IsGenericTypeDefinition: true } ? type : null;
            }
        }

        return null;
    }

    /// <summary>
    /// The definition's name of an instantiation as ClrMD writes it, as reflection writes it
    /// (<c>Builder&lt;A&gt;+Box&lt;Program+&lt;Main&gt;d__0&gt;</c> → <c>Builder`1+Box`1</c>); null when the name has no
    /// argument list (an angle bracket at the start of a name is part of a compiler-generated name) or does not parse.
    /// </summary>
    internal static string? DefinitionName(string name)
    {
        var definition = new System.Text.StringBuilder(name.Length);
        var instantiation = false;
        for (var i = 0; i < name.Length; i++)
        {
            if (name[i] != '<' || !OpensArguments(name, i))
            {
                definition.Append(name[i]);
                continue;
            }

            // Count the arguments up to the matching bracket.
            var depth = 0;
            var count = 1;
            for (; i < name.Length; i++)
            {
                if (name[i] == '<')
                {
                    depth++;
                }
                else if (name[i] == '>' && --depth == 0)
                {
                    break;
                }
                else if (name[i] == ',' && depth == 1)
                {
                    count++;
                }
            }

            if (depth != 0)
            {
                return null;
            }

            definition.Append('`').Append(count);
            instantiation = true;
        }

        return instantiation ? definition.ToString() : null;
    }

    private static bool OpensArguments(string name, int at) =>
        at > 0 && (char.IsLetterOrDigit(name[at - 1]) || name[at - 1] is '_' or '`' or ']' or '$');

    /// <summary>
    /// The argument names of a generic instantiation as ClrMD writes it, over every nesting level
    /// (<c>Builder&lt;A&gt;+Box&lt;Program+&lt;Main&gt;d__0&gt;</c> → A, Program+&lt;Main&gt;d__0): an angle bracket after a name
    /// opens arguments; one at the start of a name is part of a compiler-generated name. Null when it does not parse.
    /// </summary>
    internal static List<string>? GenericArgumentNames(string name)
    {
        var arguments = new List<string>();
        var open = new Stack<bool>(); // true: an argument list; false: part of a name
        var start = -1;
        for (var i = 0; i < name.Length; i++)
        {
            var c = name[i];
            if (c == '<')
            {
                var isArguments = OpensArguments(name, i);
                open.Push(isArguments);
                if (isArguments && open.Count(a => a) == 1 && open.Count == 1)
                {
                    start = i + 1;
                }
            }
            else if (c == '>')
            {
                if (open.Count == 0)
                {
                    return null;
                }

                if (open.Pop() && open.Count == 0)
                {
                    arguments.Add(name[start..i].Trim());
                }
            }
            else if (c == ',' && open.Count == 1 && open.Peek())
            {
                arguments.Add(name[start..i].Trim());
                start = i + 1;
            }
        }

        return open.Count == 0 ? arguments : null;
    }

    /// <summary>The target's module loaded from <paramref name="path"/>, as loaded here for reflection, with the same
    /// metadata tokens; null when it cannot be read here (a framework assembly of another build than this process's).</summary>
    public Module? ModuleAt(string path)
    {
        if (AssemblyOf(path) is not { } assembly)
        {
            return null;
        }

        // The framework here stands in for the target's by name; its tokens are the target's only in the same build.
        return !IsFramework(path) || MetadataIdOf(path) == assembly.ManifestModule.ModuleVersionId ? assembly.ManifestModule : null;
    }

    /// <summary>The folder of the target's runtime (its framework assemblies).</summary>
    public string? RuntimeDirectory => _runtimeDirectory;

    private Guid? MetadataIdOf(string path)
    {
        if (FileOf(path) is not { } file)
        {
            return null;
        }

        var reader = file.GetMetadataReader();
        return reader.GetGuid(reader.GetModuleDefinition().Mvid);
    }

    private Assembly? AssemblyOf(string path)
    {
        if (_assemblies.TryGetValue(path, out var known))
        {
            return known;
        }

        Assembly? assembly = null;
        try
        {
            var name = Path.GetFileNameWithoutExtension(path);
            if (IsFramework(path))
            {
                // The framework's types are this process's own (typeof(Task) must be the target's Task).
                assembly = AssemblyLoadContext.Default.Assemblies.FirstOrDefault(a => a.GetName().Name == name)
                    ?? Assembly.Load(new AssemblyName(name));
            }
            else if (File.Exists(path))
            {
                assembly = _context.LoadFromAssemblyPath(path);
            }
        }
        catch (Exception)
        {
            assembly = null;
        }

        _assemblies[path] = assembly;
        return assembly;
    }

    private readonly Dictionary<string, PEReader?> _files = new(StringComparer.Ordinal);

    /// <summary>The reflection name (<c>Namespace.Outer`1+Inner</c>) of a type definition of an assembly file the target loaded.</summary>
    private PEReader? FileOf(string path)
    {
        if (!_files.TryGetValue(path, out var file))
        {
            _files[path] = file = File.Exists(path) ? new PEReader(File.OpenRead(path)) : null;
        }

        return file;
    }

    private string? NameOf(string path, int token)
    {
        var file = FileOf(path);
        if (file is null || token == 0)
        {
            return null;
        }

        return NameOf(file.GetMetadataReader(), (TypeDefinitionHandle)MetadataTokens.EntityHandle(token));
    }

    private static string NameOf(MetadataReader reader, TypeDefinitionHandle handle)
    {
        var definition = reader.GetTypeDefinition(handle);
        var name = reader.GetString(definition.Name);
        var declaring = definition.GetDeclaringType();
        if (!declaring.IsNil)
        {
            return NameOf(reader, declaring) + "+" + name;
        }

        var ns = reader.GetString(definition.Namespace);
        return ns.Length == 0 ? name : ns + "." + name;
    }

    private bool IsFramework(string path) =>
        _runtimeDirectory is not null && string.Equals(Path.GetDirectoryName(path), _runtimeDirectory, StringComparison.Ordinal);

    public void Dispose()
    {
        foreach (var file in _files.Values)
        {
            file?.Dispose();
        }

        _context.Unload();
    }

    /// <summary>The target's own assemblies, found by name among the modules it loaded; the framework is this process's.</summary>
    private sealed class ApplicationAssemblies(Dictionary<string, string> paths) : AssemblyLoadContext("NoLeaks target", isCollectible: true)
    {
        protected override Assembly? Load(AssemblyName assemblyName)
        {
            if (assemblyName.Name is { } name && paths.TryGetValue(name, out var path) && File.Exists(path)
                && !AssemblyLoadContext.Default.Assemblies.Any(a => a.GetName().Name == name))
            {
                return LoadFromAssemblyPath(path);
            }

            return null;
        }
    }
}
#endif
