import Type from "typebox";
import { orgSettingsSchema } from "../../domain/org-settings.js";
import { Description, Id, Instant, Name, RoleBindings, ref } from "./common.js";

export const OrgSettingsSchema = Type.Object(orgSettingsSchema.properties, {
  $id: "OrgSettings",
  additionalProperties: false,
});

export const OrgSchema = Type.Object(
  {
    id: Id("org"),
    name: Name,
    isOperator: Type.Boolean({ description: "The org created on first start; may grant platform permissions" }),
    settings: ref(OrgSettingsSchema),
    createdAt: Instant,
    updatedAt: Instant,
    version: Type.Integer(),
  },
  { $id: "Org" },
);

export const UserSchema = Type.Object(
  {
    id: Id("usr"),
    email: Type.String(),
    name: Type.String(),
    mustChangePassword: Type.Boolean(),
    createdAt: Instant,
  },
  { $id: "User" },
);

export const ProjectSchema = Type.Object(
  { id: Id("prj"), orgId: Id("org"), name: Name, description: Description, createdAt: Instant, updatedAt: Instant },
  { $id: "Project" },
);

export const ServiceAccountSchema = Type.Object(
  {
    id: Id("sa"),
    orgId: Id("org"),
    name: Name,
    description: Description,
    roles: RoleBindings,
    createdBy: Type.Union([Type.String(), Type.Null()]),
    createdAt: Instant,
    updatedAt: Instant,
  },
  { $id: "ServiceAccount" },
);

export const RoleSchema = Type.Object(
  {
    id: Type.String(),
    orgId: Type.Union([Id("org"), Type.Null()]),
    name: Type.String(),
    description: Type.String(),
    permissions: Type.Array(Type.String()),
    builtin: Type.Boolean(),
    createdAt: Type.Union([Instant, Type.Null()]),
    updatedAt: Type.Union([Instant, Type.Null()]),
  },
  { $id: "Role" },
);

export const MemberSchema = Type.Object(
  {
    userId: Id("usr"),
    email: Type.String(),
    name: Type.String(),
    invitedBy: Type.Union([Type.String(), Type.Null()]),
    roles: RoleBindings,
    joinedAt: Instant,
  },
  { $id: "Member" },
);

export const InvitationSchema = Type.Object(
  {
    id: Id("inv"),
    orgId: Id("org"),
    email: Type.String(),
    roles: RoleBindings,
    invitedBy: Type.String(),
    createdAt: Instant,
    expiresAt: Instant,
    acceptedAt: Type.Union([Instant, Type.Null()]),
  },
  { $id: "Invitation" },
);

export const PermissionSchema = Type.Object(
  { name: Type.String(), description: Type.String(), platform: Type.Boolean(), readOnly: Type.Boolean() },
  { $id: "Permission" },
);
