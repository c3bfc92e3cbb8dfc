defmodule NervesDockerTs.OwnPackageTest do
  # The plugin's own package (type :build_runner) must survive `mix nerves.clean --all`,
  # which calls clean/1 on every package's build runner (checked against real Nerves
  # in docs/nerves-check.md).
  use ExUnit.Case, async: true

  test "mix.exs names NervesDockerTs.OwnPackage as the plugin package's build runner" do
    config = Mix.Project.config()[:nerves_package]
    assert config[:type] == :build_runner
    assert config[:build_runner] == NervesDockerTs.OwnPackage
    assert Code.ensure_loaded?(NervesDockerTs.OwnPackage)
  end

  test "clean has nothing to do; build says what to do instead" do
    pkg = %{app: :nerves_docker_ts, path: File.cwd!(), config: []}
    assert NervesDockerTs.OwnPackage.clean(pkg) == :ok

    err = assert_raise Mix.Error, fn -> NervesDockerTs.OwnPackage.build(pkg, nil, []) end
    assert err.message =~ ":nerves_docker_ts is a build runner and has no artifact"
    assert err.message =~ "build_runner: NervesDockerTs.BuildRunner"
  end
end
