// Drives the cloud with gophercloud, the Go SDK under Terraform's OpenStack provider, as
// Debian packages it (golang-github-gophercloud-gophercloud-dev). Credentials come from the
// OS_* environment, as a Terraform user's do. Each step prints one "ok <step> ..." line; any
// error prints "FAIL <step>: <error>" and exits 1. Everything made is deleted at the end.
package main

import (
	"bytes"
	"fmt"
	"os"
	"sort"

	"github.com/gophercloud/gophercloud"
	"github.com/gophercloud/gophercloud/openstack"
	"github.com/gophercloud/gophercloud/openstack/blockstorage/v3/volumes"
	"github.com/gophercloud/gophercloud/openstack/compute/v2/extensions/volumeattach"
	"github.com/gophercloud/gophercloud/openstack/compute/v2/flavors"
	"github.com/gophercloud/gophercloud/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/openstack/imageservice/v2/imagedata"
	"github.com/gophercloud/gophercloud/openstack/imageservice/v2/images"
	"github.com/gophercloud/gophercloud/openstack/networking/v2/extensions/security/groups"
	"github.com/gophercloud/gophercloud/openstack/networking/v2/extensions/security/rules"
	"github.com/gophercloud/gophercloud/openstack/networking/v2/networks"
	"github.com/gophercloud/gophercloud/openstack/networking/v2/subnets"
	"github.com/gophercloud/gophercloud/pagination"
)

const wait = 60 // seconds for each state to be reached

func check(step string, err error) {
	if err != nil {
		fmt.Printf("FAIL %s: %v\n", step, err)
		os.Exit(1)
	}
}

func allPages(step string, p pagination.Pager) pagination.Page {
	page, err := p.AllPages()
	check(step, err)
	return page
}

func waitGone(step string, get func() error) {
	check(step, gophercloud.WaitFor(wait, func() (bool, error) {
		err := get()
		if _, ok := err.(gophercloud.ErrDefault404); ok {
			return true, nil
		}
		return false, err
	}))
}

func main() {
	prefix := os.Getenv("GOPHER_PREFIX")
	opts, err := openstack.AuthOptionsFromEnv()
	check("auth options", err)
	provider, err := openstack.AuthenticatedClient(opts)
	check("authenticate", err)
	fmt.Println("ok authenticate")
	eo := gophercloud.EndpointOpts{Region: os.Getenv("OS_REGION_NAME")}
	compute, err := openstack.NewComputeV2(provider, eo)
	check("compute client", err)
	image, err := openstack.NewImageServiceV2(provider, eo)
	check("image client", err)
	network, err := openstack.NewNetworkV2(provider, eo)
	check("network client", err)
	volume, err := openstack.NewBlockStorageV3(provider, eo)
	check("volume client", err)

	fl, err := flavors.ExtractFlavors(allPages("flavors", flavors.ListDetail(compute, nil)))
	check("flavors", err)
	sort.Slice(fl, func(i, j int) bool { return fl[i].RAM < fl[j].RAM })
	flavor := fl[0]
	fmt.Printf("ok flavors %d smallest=%s ram=%d\n", len(fl), flavor.Name, flavor.RAM)

	img, err := images.Create(image, images.CreateOpts{
		Name: prefix + "-image", DiskFormat: "raw", ContainerFormat: "bare"}).Extract()
	check("image create", err)
	check("image upload", imagedata.Upload(image, img.ID,
		bytes.NewReader(make([]byte, 4096))).ExtractErr())
	img, err = images.Get(image, img.ID).Extract()
	check("image get", err)
	il, err := images.ExtractImages(allPages("images", images.List(image, images.ListOpts{})))
	check("images", err)
	listed := false
	for _, i := range il {
		listed = listed || i.ID == img.ID
	}
	fmt.Printf("ok image %s status=%s size=%d listed=%t\n", img.ID, img.Status, img.SizeBytes,
		listed)

	net, err := networks.Create(network, networks.CreateOpts{Name: prefix + "-net"}).Extract()
	check("network create", err)
	sub, err := subnets.Create(network, subnets.CreateOpts{NetworkID: net.ID,
		Name: prefix + "-subnet", CIDR: "10.93.0.0/24", IPVersion: gophercloud.IPv4}).Extract()
	check("subnet create", err)
	nl, err := networks.ExtractNetworks(allPages("networks", networks.List(network,
		networks.ListOpts{Name: prefix + "-net"})))
	check("networks", err)
	fmt.Printf("ok network %s subnet=%s cidr=%s listed=%d\n", net.ID, sub.ID, sub.CIDR, len(nl))
	sg, err := groups.Create(network, groups.CreateOpts{Name: prefix + "-sg",
		Description: "gophercloud"}).Extract()
	check("security group create", err)
	rule, err := rules.Create(network, rules.CreateOpts{Direction: rules.DirIngress,
		EtherType: rules.EtherType4, SecGroupID: sg.ID, Protocol: rules.ProtocolTCP,
		PortRangeMin: 22, PortRangeMax: 22, RemoteIPPrefix: "0.0.0.0/0"}).Extract()
	check("security group rule create", err)
	fmt.Printf("ok security group %s rule=%s port=%d\n", sg.ID, rule.ID, rule.PortRangeMin)

	vol, err := volumes.Create(volume, volumes.CreateOpts{Size: 1,
		Name: prefix + "-vol"}).Extract()
	check("volume create", err)
	check("volume available", volumes.WaitForStatus(volume, vol.ID, "available", wait))
	fmt.Printf("ok volume %s size=%d\n", vol.ID, vol.Size)

	srv, err := servers.Create(compute, servers.CreateOpts{Name: prefix + "-server",
		ImageRef: img.ID, FlavorRef: flavor.ID, SecurityGroups: []string{sg.Name},
		Networks: []servers.Network{{UUID: net.ID}}}).Extract()
	check("server create", err)
	check("server active", servers.WaitForStatus(compute, srv.ID, "ACTIVE", wait))
	srv, err = servers.Get(compute, srv.ID).Extract()
	check("server get", err)
	sl, err := servers.ExtractServers(allPages("servers", servers.List(compute,
		servers.ListOpts{Name: prefix + "-server"})))
	check("servers", err)
	addr := ""
	for _, a := range srv.Addresses[net.Name].([]interface{}) {
		addr = a.(map[string]interface{})["addr"].(string)
	}
	fmt.Printf("ok server %s status=%s listed=%d addr=%s\n", srv.ID, srv.Status, len(sl), addr)

	att, err := volumeattach.Create(compute, srv.ID, volumeattach.CreateOpts{
		VolumeID: vol.ID}).Extract()
	check("volume attach", err)
	check("volume in-use", volumes.WaitForStatus(volume, vol.ID, "in-use", wait))
	fmt.Printf("ok attach %s device=%s\n", att.VolumeID, att.Device)
	check("volume detach", volumeattach.Delete(compute, srv.ID, vol.ID).ExtractErr())
	check("volume detached", volumes.WaitForStatus(volume, vol.ID, "available", wait))
	fmt.Println("ok detach")

	check("server delete", servers.Delete(compute, srv.ID).ExtractErr())
	waitGone("server gone", func() error { return servers.Get(compute, srv.ID).Err })
	check("volume delete", volumes.Delete(volume, vol.ID, volumes.DeleteOpts{}).ExtractErr())
	waitGone("volume gone", func() error { return volumes.Get(volume, vol.ID).Err })
	check("security group delete", groups.Delete(network, sg.ID).ExtractErr())
	check("network delete", networks.Delete(network, net.ID).ExtractErr())
	check("image delete", images.Delete(image, img.ID).ExtractErr())
	_, err = networks.Get(network, net.ID).Extract()
	if _, ok := err.(gophercloud.ErrDefault404); !ok {
		check("network gone", fmt.Errorf("network %s still there: %v", net.ID, err))
	}
	fmt.Println("ok deleted all")
}
