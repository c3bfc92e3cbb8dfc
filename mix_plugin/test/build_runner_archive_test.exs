defmodule NervesDockerTs.BuildRunnerArchiveTest do
  # archive/3 as `mix nerves.artifact` calls it: with the task's switches
  # (:name, :path), not the build_runner_opts. The spec it sends must still
  # carry the package's build_runner_opts. No engine: a fake sidecar writes
  # the spec it gets to a file and replies with that file as the artifact.
  # Not async: NERVES_DOCKER_TS_SIDECAR is the VM's (async modules run before this one).
  use ExUnit.Case, async: false

  alias NervesDockerTs.{BuildRunner, Msgpack, TestExample}

  @fake Path.expand("fixtures/fake_sidecar.mjs", __DIR__)
  @runner_opts [make_args: ["PARALLEL_JOBS=3"], memory: "8G", cpus: 2, keep_container: true, downloads_volume: "dl"]

  setup do
    old = System.get_env("NERVES_DOCKER_TS_SIDECAR")
    System.put_env("NERVES_DOCKER_TS_SIDECAR", @fake)

    on_exit(fn ->
      if old, do: System.put_env("NERVES_DOCKER_TS_SIDECAR", old), else: System.delete_env("NERVES_DOCKER_TS_SIDECAR")
    end)
  end

  defp archive_spec(pkg) do
    {:ok, path} = BuildRunner.archive(pkg, nil, name: "example_system-portable-0.1.0", path: "/tmp/ndt-unused")
    {:ok, spec} = Msgpack.decode(File.read!(path))
    File.rm!(path)
    spec
  end

  defp assert_runner_opts(spec) do
    assert spec["make_args"] == ["PARALLEL_JOBS=3"]
    assert spec["memory"] == "8G"
    assert spec["cpus"] == 2
    assert spec["keep_container"] == true
    assert spec["downloads_volume"] == "dl"
  end

  test "archive/3 takes the build_runner_opts from a Nerves package's build_runner" do
    pkg = Map.put(TestExample.pkg(TestExample.examples()), :build_runner, {BuildRunner, @runner_opts})
    assert_runner_opts(archive_spec(pkg))
  end

  test "archive/3 takes the build_runner_opts from the config of a package map without build_runner" do
    assert_runner_opts(archive_spec(TestExample.pkg(TestExample.examples(), build_runner_opts: @runner_opts)))
  end

  test "the options archive/3 is given win over the package's" do
    pkg = Map.put(TestExample.pkg(TestExample.examples()), :build_runner, {BuildRunner, @runner_opts})
    {:ok, path} = BuildRunner.archive(pkg, nil, make_args: ["PARALLEL_JOBS=1"])
    {:ok, spec} = Msgpack.decode(File.read!(path))
    File.rm!(path)
    assert spec["make_args"] == ["PARALLEL_JOBS=1"]
    assert spec["memory"] == "8G"
  end
end
