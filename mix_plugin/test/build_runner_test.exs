defmodule NervesDockerTs.BuildRunnerTest do
  # NervesDockerTs.BuildRunner through the real sidecar and the real engine,
  # called the way Nerves calls it, on a private copy of the example system.
  use ExUnit.Case, async: false

  alias NervesDockerTs.BuildRunner

  import NervesDockerTs.TestExample, only: [pkg: 1]
  @moduletag timeout: 300_000

  setup_all do
    dir = NervesDockerTs.TestExample.copy!()
    dl = Path.join(dir, "dl")
    old = Map.new(["NERVES_DL_DIR", "NERVES_ARTIFACTS_DIR", "NERVES_DOCKER_TS_YES"], &{&1, System.get_env(&1)})
    System.put_env("NERVES_DL_DIR", dl)
    System.put_env("NERVES_ARTIFACTS_DIR", Path.join(dir, "artifacts"))
    System.put_env("NERVES_DOCKER_TS_YES", "1")

    on_exit(fn ->
      Enum.each(old, fn {k, v} -> if v, do: System.put_env(k, v), else: System.delete_env(k) end)

      with {:ok, id} <- File.read(Path.join(dir, "system/.nerves/artifacts/example_system-portable-0.1.0/.docker_id")) do
        NervesDockerTs.TestExample.remove_volume("example_system-" <> id)
      end

      File.rm_rf!(dir)
    end)

    %{dir: dir, dl: dl}
  end

  defp in_dir(dir, fun), do: File.cd!(dir, fun)

  defp quietly(fun) do
    Mix.shell(Mix.Shell.Process)

    try do
      fun.()
    after
      Mix.shell(Mix.Shell.IO)
    end
  end

  defp messages do
    Stream.repeatedly(fn ->
      receive do
        {:mix_shell, _, [text]} -> text
      after
        0 -> nil
      end
    end)
    |> Enum.take_while(& &1)
  end

  defp volumes_named(prefix) do
    {out, 0} = System.cmd("docker", ["volume", "ls", "-q"])
    out |> String.split("\n", trim: true) |> Enum.filter(&String.starts_with?(&1, prefix))
  end

  defp containers_of(docker_id),
    do: NervesDockerTs.TestExample.containers("io.github.nerves-docker-ts.volume=example_system-" <> docker_id)

  defp owner(path) do
    %File.Stat{uid: uid, gid: gid} = File.stat!(path)
    {uid, gid}
  end

  defp host_user do
    {u, 0} = System.cmd("id", ["-u"])
    {g, 0} = System.cmd("id", ["-g"])
    {String.to_integer(String.trim(u)), String.to_integer(String.trim(g))}
  end

  test "build, archive and clean as Nerves calls them", %{dir: dir, dl: dl} do
    pkg = pkg(dir)

    {:ok, path} =
      in_dir(dir, fn -> quietly(fn -> BuildRunner.build(pkg, nil, make_args: ["GREETING=from mix"]) end) end)

    assert Path.dirname(path) == dl
    assert path =~ ~r/example_system-portable-0.1.0-[0-9A-F]{7}\.tar\.gz$/
    name = Path.basename(path, ".tar.gz")
    {greeting, 0} = System.cmd("tar", ["-xzOf", path, "#{name}/target-greeting"])
    assert greeting == "from mix\n"

    shown = messages()
    assert Enum.any?(shown, &(&1 =~ "Starting Build... (this may take a while)"))
    assert ">>> busybox 1.36.1 Extracting" in shown
    assert File.read!(Path.join(dir, "build.log")) =~ ">>> nerves-config 0.1.0 Installing to target"

    id = File.read!(Path.join(dir, "system/.nerves/artifacts/example_system-portable-0.1.0/.docker_id"))
    assert ["example_system-" <> ^id] = volumes_named("example_system-" <> id)
    # The sidecar's cleanup ran before the call returned: the job's container is gone, the volume free.
    assert containers_of(id) == []
    # The image runs as uid 1005; the artifact (copied from the FIFO drop dir) is the Mix user's.
    assert owner(path) == host_user()

    File.rm!(path)
    {:ok, ^path} = in_dir(dir, fn -> quietly(fn -> BuildRunner.archive(pkg, nil, []) end) end)
    assert File.exists?(path)
    assert File.exists?(Path.join(dir, "archive.log"))
    assert containers_of(id) == []

    # The other way out: the Engine API's archive of the container's file.
    File.rm!(path)
    System.put_env("NERVES_DOCKER_TS_STEP_OUTPUT", "exec")

    try do
      {:ok, ^path} = in_dir(dir, fn -> quietly(fn -> BuildRunner.archive(pkg, nil, []) end) end)
    after
      System.delete_env("NERVES_DOCKER_TS_STEP_OUTPUT")
    end

    assert owner(path) == host_user()

    cache = Path.join(dir, "artifacts/example_system-portable-0.1.0")
    File.mkdir_p!(cache)
    _ = messages()
    assert :ok = quietly(fn -> BuildRunner.clean(pkg) end)
    assert Enum.any?(messages(), &(&1 =~ "Deleting build volume example_system-#{id}"))
    assert volumes_named("example_system-" <> id) == []
    refute File.exists?(cache)
    # A second clean finds no volume and is not an error.
    assert :ok = quietly(fn -> BuildRunner.clean(pkg) end)
  end

  test "a failing build raises with the log tail and the log's path", %{dir: dir} do
    pkg = pkg(dir)

    err =
      assert_raise NervesDockerTs.Error, fn ->
        in_dir(dir, fn -> quietly(fn -> BuildRunner.build(pkg, nil, make_args: ["FAIL=1"]) end) end)
      end

    msg = Exception.message(err)
    assert msg =~ "The Nerves Docker build_runner encountered an error while building:"
    assert msg =~ "build failed on purpose"
    assert msg =~ "See #{Path.join(dir, "build.log")}."
    assert err.code == "step_failed"
    quietly(fn -> BuildRunner.clean(pkg) end)
  end

  test "a step the kernel OOM-kills under build_runner_opts memory raises step_out_of_memory with a hint", %{dir: dir} do
    pkg = pkg(dir)
    opts = [memory: "64m", cpus: 1, make_args: ["MEMHOG_MB=200"]]

    err =
      assert_raise NervesDockerTs.Error, fn ->
        in_dir(dir, fn -> quietly(fn -> BuildRunner.build(pkg, nil, opts) end) end)
      end

    assert err.code == "step_out_of_memory"
    assert Exception.message(err) =~ "the build container ran out of memory (limit 64 MiB)"
    assert Exception.message(err) =~ "Raise build_runner_opts memory (or NERVES_DOCKER_TS_MEMORY)"
    quietly(fn -> BuildRunner.clean(pkg) end)
  end

  # Upstream's runner ignores keys it does not know; a misspelt one did nothing here either, without a word.
  test "an option this runner does not know is named, with the nearest known one; it is ignored", %{dir: dir} do
    quietly(fn ->
      assert_raise Mix.Error, ~r/make_args\] must be a list of strings/, fn ->
        BuildRunner.build(pkg(dir), nil, keep_contaner: true, parallel: 4, make_args: "stop here")
      end
    end)

    assert [typo, other] = messages()

    assert typo =~
             "build_runner_opts: :keep_contaner is not an option of this runner (did you mean :keep_container?); it is ignored."

    assert other =~ ~r/:parallel is not an option of this runner; it is ignored\. Known: :make_args, :keep_container/
  end

  test "bad build_runner_opts and config are refused with the field named", %{dir: dir} do
    assert_raise Mix.Error, ~r/make_args\] must be a list of strings/, fn ->
      BuildRunner.build(pkg(dir), nil, make_args: "PARALLEL_JOBS=8")
    end

    bad = put_in(pkg(dir).config[:build_runner_config], docker: "just-a-tag")

    assert_raise Mix.Error, ~r/must be a \{dockerfile, tag\} tuple/, fn ->
      BuildRunner.build(bad, nil, [])
    end

    bad_tag = put_in(pkg(dir).config[:build_runner_config], docker: {"Dockerfile", "Bad Tag!"})

    err = assert_raise NervesDockerTs.Error, fn -> in_dir(dir, fn -> BuildRunner.build(bad_tag, nil, []) end) end
    assert err.code == "invalid_spec"
    assert Exception.message(err) =~ ~s("Bad Tag!" is not a valid image reference)
  end
end
